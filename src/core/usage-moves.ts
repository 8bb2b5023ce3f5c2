import type { DesiredStatus } from './model.ts';
import type { UsageInstance } from './quotas.ts';

/** Instances of a pool whose desired status a change moves from one value to another. */
export interface UsageMove {
  poolId: string;
  from: DesiredStatus;
  to: DesiredStatus;
  count?: number;
}

/**
 * The stored counts (by pool and desired status) as they would be after `moves`: what an
 * instance action weighs, without reading the tenant's instances one by one. A move out of a
 * status the counts do not hold is an error in the caller (it read the instance under the
 * tenant's lock, so the store counted it).
 */
export function countsAfterMoves(
  counts: readonly UsageInstance[],
  moves: readonly UsageMove[],
): UsageInstance[] {
  const after = counts.map((c) => ({ ...c, count: c.count ?? 1 }));
  for (const move of moves) {
    const n = move.count ?? 1;
    const from = after.find((c) => c.poolId === move.poolId && c.desiredStatus === move.from);
    if (from) from.count -= n;
    else if (move.from !== 'destroyed') after.push({ ...match(move, move.from), count: -n });
    const to = after.find((c) => c.poolId === move.poolId && c.desiredStatus === move.to);
    if (to) to.count += n;
    else after.push({ ...match(move, move.to), count: n });
  }
  return after.filter((c) => c.count !== 0);
}

const match = (move: UsageMove, desiredStatus: DesiredStatus) => ({
  poolId: move.poolId,
  desiredStatus,
});
