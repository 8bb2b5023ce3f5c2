import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Where built kernels, images and verdicts live unless the caller (its config) says otherwise. */
export const DEFAULT_CACHE_DIR = '/var/cache/mvm';

/** A private scratch directory next to its final place, so the publishing rename is atomic. */
export async function makeStagingDir(parent: string, label: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  return mkdtemp(join(parent, `.tmp-${label}-`));
}

/**
 * Publishes a finished staging directory under its final name. When a concurrent caller won
 * the race the result is identical by construction, so we keep theirs and drop ours.
 */
export async function publishDir(staging: string, final: string): Promise<void> {
  // mkdtemp makes 0700 directories; published caches are read by VMMs that may drop privileges.
  await chmod(staging, 0o755);
  try {
    await rename(staging, final);
  } catch (error) {
    if (!isCode(error, 'ENOTEMPTY') && !isCode(error, 'EEXIST')) throw error;
    await rm(staging, { recursive: true, force: true });
  }
}

/** Replaces `final` with `staging` even when it already exists (e.g. a newer snapshot). */
export async function replaceDir(staging: string, final: string): Promise<void> {
  const old = `${final}.old-${randomBytes(4).toString('hex')}`;
  const hadOld = await rename(final, old).then(
    () => true,
    (error: unknown) => {
      if (isCode(error, 'ENOENT')) return false;
      throw error;
    },
  );
  await rename(staging, final);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

export function isCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
