import type { Rollout } from './rollout-plan.ts';

/**
 * Where the pool's history goes back to, decided from its latest rollout alone (one record per
 * pool). Pure: the rollout service reads the record and the pool's revision, and asks.
 */

/**
 * The revision before `from` for a rollout about to start from `from`: the `from` of the
 * finished rollout that brought the pool there, or, when the latest one turned back to `from`,
 * the revision that one remembered. Null when the pool's history says nothing.
 */
export function previousOf(latest: Rollout | undefined, from: string): string | null {
  if (!latest || latest.from === latest.to) return null;
  if (latest.state === 'done' && latest.to === from) return latest.from;
  const turnedBack = latest.state === 'rolled-back' || latest.state === 'failed';
  if (turnedBack && latest.from === from) return latest.previous;
  return null;
}

/** What `pool rollback` moves a pool at rest on `now` between, or why it cannot. */
export type RollbackTarget =
  { kind: 'back'; from: string; to: string; previous: string | null } | { kind: 'none' };

/**
 * A finished rollout to `now` goes back to its `from`. After one that turned back (the pool is
 * on its `from` again), a rollback returns one step further: to the revision before.
 */
export function rollbackTarget(latest: Rollout | undefined, now: string): RollbackTarget {
  if (!latest) return { kind: 'none' };
  if (latest.state === 'done' && latest.to === now && latest.from !== now) {
    return { kind: 'back', from: latest.from, to: now, previous: latest.previous };
  }
  const before = previousOf(latest, now);
  if (before !== null && before !== now) {
    return { kind: 'back', from: before, to: now, previous: null };
  }
  return { kind: 'none' };
}
