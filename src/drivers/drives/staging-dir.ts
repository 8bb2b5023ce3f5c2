import { chmod, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
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
    // Sorted: mkfs numbers inodes in directory order, and equal content must give equal bytes.
    for (const [name, content] of Object.entries(files).sort(([x], [y]) => (x < y ? -1 : 1))) {
      // 'wx' refuses to follow or overwrite anything that might already be there.
      await writeFile(join(dir, name), content, { mode: modes.file, flag: 'wx' });
      await chmod(join(dir, name), modes.file);
      // mkfs copies mtimes into the image; a fixed one keeps equal content byte-identical.
      await utimes(join(dir, name), 0, 0);
    }
    await chmod(dir, modes.dir);
    await utimes(dir, 0, 0);
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
