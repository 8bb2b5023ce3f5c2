import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A sibling of `finalPath` (same filesystem, so rename is atomic) that no one else picks. */
export function tempPathFor(finalPath: string): string {
  return `${finalPath}.tmp-${randomBytes(6).toString('hex')}`;
}

/**
 * Runs `build(tempPath)` and then `publish(tempPath)`; the temp file is removed whatever
 * happens, so a failed or interrupted build never leaves a half-written image at `finalPath`.
 */
export async function withTempFile<T>(
  finalPath: string,
  build: (tempPath: string) => Promise<void>,
  publish: (tempPath: string) => Promise<T>,
): Promise<T> {
  const tempPath = tempPathFor(finalPath);
  try {
    await build(tempPath);
    return await publish(tempPath);
  } finally {
    await rm(tempPath, { force: true });
  }
}

/** Atomically replaces `finalPath`; a VMM that still has the old file open keeps its inode. */
export async function publishReplacing(tempPath: string, finalPath: string): Promise<void> {
  await rename(tempPath, finalPath);
  await syncDir(dirname(finalPath));
}

/**
 * Publishes only when `finalPath` does not exist yet. link(2) fails on an existing target
 * where rename(2) would overwrite it, so a racing builder can never clobber a live image.
 * Returns whether this call published.
 */
export async function publishIfAbsent(tempPath: string, finalPath: string): Promise<boolean> {
  try {
    await link(tempPath, finalPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  await syncDir(dirname(finalPath));
  return true;
}

/** Makes a rename durable: without it a crash can forget the new directory entry. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
