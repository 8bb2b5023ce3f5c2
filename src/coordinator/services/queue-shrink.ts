import { leasedInstance } from '../../core/jobs/queue-scale.ts';
import type { Instance, Pool, PoolCounts } from '../../core/model.ts';
import type { Repos } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { writeQueuePlan } from './apply-assignments.ts';
import { planPool } from './pool-service.ts';

const ACTOR = 'system:queue-wake';
/** More running jobs than any pool has workers: one is enough to refuse the shrink. */
const LEASE_SCAN = 1000;

export type QueueShrink =
  | { kind: 'shrunk'; counts: PoolCounts; changed: Instance[] }
  /** A job is running in the pool (one may have been claimed since the demand was read). */
  | { kind: 'busy' };

const isLive = (i: Instance) => i.status !== 'destroyed' && i.desiredStatus !== 'destroyed';

/**
 * Takes `remove` workers the queue added off a queue-driven pool's running count, inside the
 * caller's transaction and under its tenant lock, as `mvm pool scale` would: the materializer
 * stops the surplus (identity and disk kept; the next queue-grow reuses them before creating
 * any). Refused when any job of the pool is running now, and the plan is checked to stop no
 * leased worker. Claims for the pool's workers wait on the same lock (lockClaimers) and claim
 * only for a worker still desired `running`, so none lands on a worker this stops. Audited as
 * `pool.queue-shrink`.
 */
export async function shrinkQueuePool(
  repos: Repos,
  deps: ServiceDeps,
  pool: Pool,
  remove: number,
): Promise<QueueShrink> {
  const ref = { tenantId: pool.tenantId, poolId: pool.id };
  // First the claims' lock, then the leases: a claim either committed before (its lease is
  // read below and the shrink is refused) or waits and finds its worker no longer running.
  await repos.jobQueue.lockClaimers(ref.tenantId, ref.poolId);
  const running = await repos.jobs.list({ ...ref, state: 'running', limit: LEASE_SCAN });
  const leased = new Set(running.map((j) => leasedInstance(j.worker)));
  if (running.length > 0) return { kind: 'busy' };
  const instances = (await repos.instances.list(ref)).filter(isLive);
  const counts = { ...pool.counts, running: pool.counts.running - remove };
  const now = deps.clock.now();
  const plan = planPool(pool, instances, now, counts);
  if (plan.assignments.some((a) => leased.has(a.id))) return { kind: 'busy' };
  const at = now.toISOString();
  const queueAdded = Math.max(0, (pool.queueAdded ?? 0) - remove);
  const { members: changed } = await writeQueuePlan(
    repos,
    pool,
    { counts, queueAdded },
    instances,
    plan.assignments,
    at,
  );
  await repos.audit.append({
    tenantId: ref.tenantId,
    at,
    actor: ACTOR,
    action: 'pool.queue-shrink',
    target: `${ref.tenantId}/${ref.poolId}`,
    detail: { from: pool.counts, to: counts, changed: changed.map((i) => i.id) },
  });
  return { kind: 'shrunk', counts, changed };
}
