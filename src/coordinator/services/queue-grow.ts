import { quotaViolations } from '../../core/quotas.ts';
import type { Instance, Pool, PoolCounts } from '../../core/model.ts';
import type { Repos, TenantRecord } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { writeQueuePlan } from './apply-assignments.ts';
import { createInstances } from './instance-factory.ts';
import { roomChecked } from './raise-room.ts';
import { planPool } from './pool-service.ts';
import { usageAfterPoolIntent } from './scale-usage.ts';

const ACTOR = 'system:queue-wake';

export type QueueGrowth =
  | { kind: 'grown'; counts: PoolCounts; created: Instance[]; changed: Instance[] }
  /** The tenant's quotas leave no room: nothing written. */
  | { kind: 'refused'; violations: string[] };

const isLive = (i: Instance) => i.status !== 'destroyed' && i.desiredStatus !== 'destroyed';

/**
 * Adds `add` workers to a queue-driven pool's running count, inside the caller's transaction
 * and under its tenant lock, as `mvm pool scale` would: the materializer reuses stopped
 * workers first, then new ones are created (and placed by the caller's scheduling pass). The
 * tenant's quotas are checked first; over them nothing is written. Audited as
 * `pool.queue-grow`.
 */
export async function growQueuePool(
  repos: Repos,
  deps: ServiceDeps,
  tenant: TenantRecord,
  pool: Pool,
  add: number,
): Promise<QueueGrowth> {
  const ref = { tenantId: pool.tenantId, poolId: pool.id };
  const rows = await repos.instances.list(ref);
  const instances = rows.filter(isLive);
  const counts = { ...pool.counts, running: pool.counts.running + add };
  const now = deps.clock.now();
  const plan = planPool(pool, instances, now, counts);
  const usage = await usageAfterPoolIntent(
    repos,
    tenant.id,
    await repos.pools.list({ tenantId: tenant.id }),
    {
      poolId: pool.id,
      instances: rows,
      desired: new Map(plan.assignments.map((a) => [a.id, a.desiredStatus])),
      added: plan.create,
    },
  );
  const violations = quotaViolations(tenant.quotas, usage);
  if (violations.length > 0) return { kind: 'refused', violations };
  const at = now.toISOString();
  const queueAdded = (pool.queueAdded ?? 0) + add;
  const written = await writeQueuePlan(
    repos,
    pool,
    { counts, queueAdded },
    instances,
    plan.assignments,
    at,
  );
  const updated = written.pool;
  const changed = await roomChecked(repos, deps, instances, written.members, ACTOR);
  const ids = instances.map((i) => i.id);
  const created = await createInstances(repos, deps, tenant, updated, plan.create, ids);
  await repos.audit.append({
    tenantId: ref.tenantId,
    at,
    actor: ACTOR,
    action: 'pool.queue-grow',
    target: `${ref.tenantId}/${ref.poolId}`,
    detail: {
      from: pool.counts,
      to: counts,
      created: created.map((i) => i.id),
      changed: changed.map((i) => i.id),
    },
  });
  return { kind: 'grown', counts, created, changed };
}
