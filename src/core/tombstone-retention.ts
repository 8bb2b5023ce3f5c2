import { ValidationError } from './errors.ts';

/**
 * How long a deleted instance's tombstone is kept for watchers (docs/api.md, "Watching
 * instances"). A watch that resumes from before the pruned ones is told `reset` and given the
 * whole list again, so the retention only bounds how long a client may be away and still
 * resume; a live watch reads its changes every half second.
 */
export const TOMBSTONE_RETENTION = {
  minMs: 60_000,
  maxMs: 30 * 86_400_000,
  defaultMs: 86_400_000,
} as const;

export function checkTombstoneRetention(ms: number): number {
  const { minMs, maxMs } = TOMBSTONE_RETENTION;
  if (!Number.isInteger(ms) || ms < minMs || ms > maxMs)
    throw new ValidationError(
      `the tombstone retention must be between ${minMs / 1000} s and ${maxMs / 86_400_000} days`,
    );
  return ms;
}

/** How often to prune: a quarter of the retention, at most every 10 minutes. */
export function pruneEveryMs(retentionMs: number): number {
  return Math.min(Math.floor(retentionMs / 4), 600_000);
}

/** Tombstones of instances deleted before this time go. */
export function pruneBefore(now: Date, retentionMs: number): string {
  return new Date(now.getTime() - retentionMs).toISOString();
}
