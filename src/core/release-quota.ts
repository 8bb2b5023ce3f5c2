import type { Instance, Pool, Quotas } from './model.ts';
import { quotaViolations, tenantUsage, type UsageInstance } from './quotas.ts';
import { countsAfterMoves } from './usage-moves.ts';

/**
 * The releases that keep every tenant within its quotas (oldest marker first, each admitted
 * release counted for the next; a pressure-slept instance counts as sleeping until released,
 * so quotas lowered while it slept keep it asleep), weighed against
 * the tenants' instances counted by pool and desired status (`counts`, per tenant, from the
 * store) rather than every instance read one by one. `held`: the released instances by key.
 * Pure.
 */
export function releasesWithinCounts<R extends { key: string; to?: 'running' | 'warm' }>(
  releases: readonly R[],
  held: ReadonlyMap<string, Pick<Instance, 'tenantId' | 'poolId' | 'desiredStatus'>>,
  counts: ReadonlyMap<string, readonly UsageInstance[]>,
  pools: readonly Pool[],
  quotas: ReadonlyMap<string, Quotas>,
): R[] {
  const current = new Map(counts);
  const admitted: R[] = [];
  for (const release of releases) {
    const instance = held.get(release.key);
    const limits = instance && quotas.get(instance.tenantId);
    if (!instance || !limits) continue;
    const { tenantId, poolId, desiredStatus: from } = instance;
    const move = { poolId, from, to: release.to ?? ('warm' as const) };
    const after = countsAfterMoves(current.get(tenantId) ?? [], [move]);
    const tenantPools = pools.filter((p) => p.tenantId === tenantId);
    if (quotaViolations(limits, tenantUsage(tenantPools, after)).length > 0) continue;
    current.set(tenantId, after);
    admitted.push(release);
  }
  return admitted;
}
