import type { DesiredStatus, Instance, Pool } from '../../core/model.ts';
import { tenantUsage, type TenantUsage } from '../../core/quotas.ts';
import type { Repos } from '../../ports/store.ts';

/** A pool's change of intent: new desired statuses of its instances, and instances added. */
export interface PoolIntent {
  poolId: string;
  /** Every instance of the pool, as read in the writing transaction. */
  instances: readonly Pick<Instance, 'id' | 'desiredStatus'>[];
  desired: ReadonlyMap<string, DesiredStatus>;
  added: readonly DesiredStatus[];
}

/**
 * The tenant's usage as it would be after `intent`, as `usageOf` weighs it, without reading
 * the tenant's other instances: those are counted in the store by pool and desired status
 * (one indexed statement, none when the tenant has no other pool), and only the changed
 * pool's rows, which the writer holds, are weighed one by one. `pools` are the tenant's
 * pools, read in the same transaction.
 */
export async function usageAfterPoolIntent(
  repos: Repos,
  tenantId: string,
  pools: readonly Pool[],
  intent: PoolIntent,
): Promise<TenantUsage> {
  const { poolId } = intent;
  // Instances belong to pools (a foreign key): a tenant with no other pool has no other rows.
  const others = pools.some((p) => p.id !== poolId)
    ? await repos.instances.desiredCounts(tenantId, { exceptPoolId: poolId })
    : [];
  // The pool's rows weighed as a count per desired status, not an entry each.
  const counted = new Map<DesiredStatus, number>();
  const count = (status: DesiredStatus) => counted.set(status, (counted.get(status) ?? 0) + 1);
  for (const i of intent.instances) count(intent.desired.get(i.id) ?? i.desiredStatus);
  for (const status of intent.added) count(status);
  return tenantUsage(pools, [
    ...others,
    ...[...counted].map(([desiredStatus, n]) => ({ poolId, desiredStatus, count: n })),
  ]);
}
