import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage } from '../../core/errors.ts';
import type { Logger } from '../../ports/logger.ts';

/** What a discarded snapshot directory is renamed to: a dot name, outside the numbering. */
export const DISCARDED_PREFIX = '.discarded-';

/**
 * Drops a woken instance's snapshot without making the wake wait for the unlink of its state
 * file (40-70 MB: ~30 ms of every wake on a loaded host, bench/wake-overhead.ts). The
 * directory is renamed at once out of the snapshot numbering (a later sleep numbers past it
 * and removes it with the other old snapshots; stop and destroy remove the whole snapshots
 * directory), then removed in the background. Resolves once it is renamed, or removed when
 * it cannot be renamed.
 */
export async function discardSnapshot(dir: string, logger: Logger): Promise<void> {
  const doomed = join(
    dirname(dir),
    `${DISCARDED_PREFIX}${basename(dir)}-${randomBytes(3).toString('hex')}`,
  );
  try {
    await rename(dir, doomed);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    await rm(dir, { recursive: true, force: true });
    return;
  }
  void rm(doomed, { recursive: true, force: true }).catch((error: unknown) =>
    logger.warn(
      { dir: doomed, error: errorMessage(error) },
      "could not remove a woken instance's old snapshot; its next sleep or stop removes it",
    ),
  );
}
