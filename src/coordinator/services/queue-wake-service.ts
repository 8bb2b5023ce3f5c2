import { ValidationError } from '../../core/errors.ts';
import { planQueueScale } from '../../core/jobs/queue-scale.ts';
import {
  emptySince,
  planQueueShrink,
  QUEUE_SHRINK_AFTER_MS,
  shrinkAfterMs,
} from '../../core/jobs/queue-shrink.ts';
import {
  queueScaleProblems,
  type QueueDemand,
  type QueueScale,
  type QueueWake,
} from '../../core/jobs/queue-wake.ts';
import type { Instance, Pool } from '../../core/model.ts';
import type { Logger } from '../../ports/logger.ts';
import type { Repos } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';
import { growQueuePool } from './queue-grow.ts';
import { holdRaisesWithoutRoom, raiseTransaction } from './raise-room.ts';
import { shrinkQueuePool } from './queue-shrink.ts';

const ACTOR = 'system:queue-wake';
/** More queued jobs than any pool has workers: the count only has to reach `max`. */
const COUNT_LIMIT = 1000;

export interface QueueWakeResult {
  changed: Array<{ instance: string; to: string; reason: string }>;
}

type Changed = QueueWakeResult['changed'];

/**
 * Queue-driven pools (docs/jobs.md, "Queue-driven pools"): `mvm pool autoscale --queue` sets
 * the least and most workers the queue keeps awake; each pass raises the workers the idle
 * policy lowered while the pool has jobs due or running, then adds workers up to `max` when
 * that is not enough (core/jobs/queue-scale.ts), and the idle policy lowers them again once
 * they are idle. Each pass over a pool is one transaction under the tenant's lock, its raises
 * compare-and-sets, like the idle pass's. Runs from the idle loop and, at once, on a submit
 * (jobs/queue-wake-watch.ts). Once a pool's queue has stayed empty for `queueShrinkAfterMs`
 * (as this replica saw it: a restart only delays it), the workers the queue added leave the
 * pool's count again (core/jobs/queue-shrink.ts).
 */
export class QueueWakeService {
  /** Since when each pool's queue has been seen empty, by `tenant/pool`. */
  private readonly emptySince = new Map<string, number>();

  constructor(
    private readonly deps: ServiceDeps & { logger?: Logger; queueShrinkAfterMs?: number },
    private readonly after: Pick<AfterWrite, 'place' | 'writing'>,
  ) {}

  /** Sets (or with null, clears) a pool's queue scale. */
  async setScale(
    principal: Principal,
    tenantId: string,
    poolId: string,
    scale: QueueScale | null,
  ): Promise<Pool> {
    const problems = scale ? queueScaleProblems(scale) : [];
    if (problems.length > 0) {
      throw new ValidationError(`invalid queue autoscale: ${problems.join('; ')}`, problems);
    }
    return this.deps.store.transaction(async (repos) => {
      await repos.tenants.lock(tenantId);
      const pool = await repos.pools.get(tenantId, poolId);
      if (!pool) {
        throw new ValidationError(`no pool '${tenantId}/${poolId}'; create it first`, []);
      }
      const at = this.deps.clock.now().toISOString();
      const updated = await repos.pools.update(
        tenantId,
        poolId,
        // Off: the workers the queue added are the operator's now.
        scale === null ? { queueScale: scale, queueAdded: 0 } : { queueScale: scale },
        pool.version,
        at,
      );
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'pool.autoscale',
        target: `${tenantId}/${poolId}`,
        detail: { queue: scale },
      });
      return updated;
    });
  }

  /** Every queue-driven pool, or only those named `tenant/pool` in `only`. */
  async pass(only?: ReadonlySet<string>): Promise<QueueWakeResult> {
    const pools = (await this.deps.store.pools.list()).filter(
      (p) => p.queueScale && (only === undefined || only.has(`${p.tenantId}/${p.id}`)),
    );
    const changed: Changed = [];
    // Each pool's growth and the placement after them count as writes in progress
    // (desired/recompute-pacer.ts); reading the pools does not.
    for (const pool of pools) {
      changed.push(...(await this.after.writing(() => this.wakePool(pool))));
    }
    if (changed.length > 0) {
      const tenants = [...new Set(changed.map((c) => c.instance.split('/')[0] ?? ''))];
      await this.after.writing(() => this.after.place({ tenants }));
    }
    return { changed };
  }

  /** Jobs due now (a parked job waiting for its time needs no worker yet) and leased. */
  private async demand(pool: Pool) {
    const ref = { tenantId: pool.tenantId, poolId: pool.id, limit: COUNT_LIMIT };
    const now = this.deps.clock.now().toISOString();
    const queued = await this.deps.store.jobs.list({ ...ref, state: 'queued' });
    const running = await this.deps.store.jobs.list({ ...ref, state: 'running' });
    return { queued: queued.filter((j) => j.runAt <= now).length, running: running.length };
  }

  private async wakePool(pool: Pool): Promise<Changed> {
    const demand = await this.demand(pool);
    const shrunk = await this.shrinkIfIdle(pool, demand);
    if (demand.queued + demand.running === 0 && (pool.queueScale?.min ?? 0) === 0) return shrunk;
    return [...shrunk, ...(await this.growPool(pool, demand))];
  }

  /** Takes the queue's workers off the count once its queue stayed empty long enough. */
  private async shrinkIfIdle(pool: Pool, demand: QueueDemand): Promise<Changed> {
    const key = `${pool.tenantId}/${pool.id}`;
    const nowMs = this.deps.clock.now().getTime();
    const since = emptySince(this.emptySince.get(key), demand, nowMs);
    if (since === undefined) this.emptySince.delete(key);
    else this.emptySince.set(key, since);
    const fallbackMs = this.deps.queueShrinkAfterMs ?? QUEUE_SHRINK_AFTER_MS;
    const removal = (p: Pool) =>
      p.queueScale
        ? planQueueShrink({
            scale: p.queueScale,
            counts: p.counts,
            queueAdded: p.queueAdded ?? 0,
            demand,
            emptySinceMs: since,
            nowMs,
            afterMs: shrinkAfterMs(p.queueScale, fallbackMs),
          })
        : 0;
    if (removal(pool) === 0) return [];
    return this.deps.store.transaction(async (repos) => {
      const tenant = await repos.tenants.lock(pool.tenantId);
      const fresh = await repos.pools.get(pool.tenantId, pool.id);
      const remove = tenant && fresh ? removal(fresh) : 0;
      if (!fresh || remove === 0) return [];
      const result = await shrinkQueuePool(repos, this.deps, fresh, remove);
      if (result.kind === 'busy') return [];
      const changed = result.changed.map((instance) => ({
        instance: `${key}/${instance.id}`,
        to: instance.desiredStatus,
        reason: 'queue-shrink',
      }));
      return marked(repos, pool.tenantId, changed);
    });
  }

  private async growPool(pool: Pool, demand: QueueDemand): Promise<Changed> {
    return raiseTransaction(this.deps.store, async (repos) => {
      const tenant = await repos.tenants.lock(pool.tenantId);
      const fresh = await repos.pools.get(pool.tenantId, pool.id);
      if (!tenant || !fresh?.queueScale) return [];
      const ref = { tenantId: pool.tenantId, poolId: pool.id };
      const instances = await repos.instances.list(ref);
      const plan = planQueueScale(fresh.queueScale, fresh.counts, instances, demand);
      const at = this.deps.clock.now().toISOString();
      const out: Changed = [];
      for (const wake of plan.raise) {
        const before = instances.find((i) => i.id === wake.id);
        if (before) out.push(await this.raise(repos, before, wake, at));
      }
      if (plan.add === 0) return marked(repos, ref.tenantId, out);
      const grown = await growQueuePool(repos, this.deps, tenant, fresh, plan.add);
      if (grown.kind === 'refused') {
        this.deps.logger?.warn(
          { pool: `${ref.tenantId}/${ref.poolId}`, add: plan.add, violations: grown.violations },
          'queue-driven pool not grown: over the tenant quotas',
        );
        return marked(repos, ref.tenantId, out);
      }
      for (const instance of [...grown.created, ...grown.changed]) {
        const path = `${ref.tenantId}/${ref.poolId}/${instance.id}`;
        out.push({ instance: path, to: instance.desiredStatus, reason: 'queue-grow' });
      }
      return marked(repos, ref.tenantId, out);
    });
  }

  /** Raises one worker, if its node has room for it (else it waits for room, services/raise-room.ts). */
  private async raise(repos: Repos, before: Instance, wake: QueueWake, at: string) {
    const ref = { tenantId: before.tenantId, poolId: before.poolId };
    const key = { ...ref, instanceId: wake.id };
    const path = `${ref.tenantId}/${ref.poolId}/${wake.id}`;
    const after = await repos.instances.update(
      key,
      { desiredStatus: wake.to, idleSlot: null, pressureSleptAt: null, sleepForced: false },
      wake.version,
      at,
    );
    const held = await holdRaisesWithoutRoom(repos, this.deps, [{ before, after }], ACTOR);
    if (held.has(path))
      return { instance: path, to: before.desiredStatus, reason: 'raise-waiting' };
    await repos.audit.append({
      tenantId: ref.tenantId,
      at,
      actor: ACTOR,
      action: `instance.${wake.reason}`,
      target: path,
      detail: { to: wake.to },
    });
    return { instance: path, to: wake.to, reason: wake.reason };
  }
}

/** Changes of a tenant's intent mark its documents in the transaction that makes them. */
async function marked(repos: Repos, tenantId: string, changed: Changed): Promise<Changed> {
  if (changed.length > 0) await markDocuments(repos, { tenants: [tenantId] });
  return changed;
}
