import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StagingModes {
  /** Mode of the staging directory while `mkfs.ext4 -d` reads it (1.47 gives the image root 0755). */
  dir: number;
  /** Mode of every file; copied into the image as well. */
  file: number;
}

/**
 * Writes `files` into a fresh private directory under `parent`, runs `use` on it and wipes it
 * afterwards, also on failure. Names must already be validated (flat, no '..').
 */
export async function withStagedFiles<T>(
  parent: string,
  files: Record<string, string>,
  modes: StagingModes,
  use: (dir: string) => Promise<T>,
): Promise<T> {
  // mkdtemp creates the directory 0700, so nothing is readable while it is being filled.
  const dir = await mkdtemp(join(parent, '.stage-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      // 'wx' refuses to follow or overwrite anything that might already be there.
      await writeFile(join(dir, name), content, { mode: modes.file, flag: 'wx' });
      await chmod(join(dir, name), modes.file);
    }
    await chmod(dir, modes.dir);
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
