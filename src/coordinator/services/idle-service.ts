import { planIdle, type IdleChange } from '../../core/idle-pass.ts';
import { leasedInstance, queueLowering } from '../../core/jobs/queue-scale.ts';
import type { FleetNode, Instance, Pool } from '../../core/model.ts';
import type { Repos } from '../../ports/store.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import type { ServiceDeps } from './context.ts';

const ACTOR = 'system:idle-policy';

export interface IdlePassResult {
  /** `tenant/pool/instance` and its new desired status, for every change applied. */
  changed: Array<{ instance: string; to: string; reason: IdleChange['reason'] }>;
  /** Epoch ms of the next step that may fall due; absent when nothing is pending. */
  recheckAt?: number;
}

/**
 * Whether an instance's node traps connections to its lowered instances (its heartbeats say
 * so): only there may an instance of a pool with service ports be lowered.
 */
async function wakeArmedOn(nodes: Promise<FleetNode[]>): Promise<(i: Instance) => boolean> {
  const armed = new Set(
    (await nodes).filter((n) => n.usage?.wakeOnConnect === true).map((n) => n.id),
  );
  return (instance) => instance.nodeId !== null && armed.has(instance.nodeId);
}

/** More running jobs than any pool has workers. */
const LEASE_LIMIT = 1000;

/** The instances of a pool holding a job's lease now: a queue-driven pool keeps them awake. */
async function leasedWorkers(
  repos: Repos,
  ref: { tenantId: string; poolId: string },
): Promise<Set<string>> {
  const running = await repos.jobs.list({ ...ref, state: 'running', limit: LEASE_LIMIT });
  return new Set(running.flatMap((job) => leasedInstance(job.worker) ?? []));
}

const hasIdlePolicy = (pool: Pool) => pool.idleWarmAfterSecs > 0 || pool.idleSleepAfterSecs > 0;

/**
 * Applies the pools' idle policies: the coordinator owns intent, so an idle instance goes warm
 * or to sleep by its desired status being lowered here (the node then pauses or snapshots it
 * as for any change, and a busy guest's drain can still refuse). Each change is a
 * compare-and-set on the instance under its tenant's lock, judged again on what is read
 * there, so an instance woken or rescaled meanwhile is left alone.
 */
export class IdleService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'place' | 'writing'>,
  ) {}

  async pass(): Promise<IdlePassResult> {
    const pools = (await this.deps.store.pools.list()).filter(hasIdlePolicy);
    const changed: IdlePassResult['changed'] = [];
    const due: number[] = [];
    if (pools.length === 0) return { changed };
    const armed = await wakeArmedOn(this.deps.store.nodes.list());
    for (const pool of pools) {
      const ref = { tenantId: pool.tenantId, poolId: pool.id };
      const instances = await this.deps.store.instances.list(ref);
      const seen = planIdle(pool, instances, this.nowMs(), armed);
      if (seen.recheckAt !== undefined) due.push(seen.recheckAt);
      // Lowering instances counts as a write in progress (desired/recompute-pacer.ts).
      if (seen.changes.length > 0)
        changed.push(...(await this.after.writing(() => this.apply(ref))));
    }
    if (changed.length > 0) {
      // Lowered instances free capacity, and their nodes must hear of it.
      const tenants = [...new Set(changed.map((c) => c.instance.split('/')[0] ?? ''))];
      await this.after.writing(() => this.after.place({ tenants }));
    }
    return due.length === 0 ? { changed } : { changed, recheckAt: Math.min(...due) };
  }

  private nowMs(): number {
    return this.deps.clock.now().getTime();
  }

  private async apply(ref: { tenantId: string; poolId: string }) {
    return this.deps.store.transaction(async (repos) => {
      await repos.tenants.lock(ref.tenantId);
      const pool = await repos.pools.get(ref.tenantId, ref.poolId);
      if (!pool) return [];
      // A queue-driven pool's claims wait from here, so the leases read below are all there
      // are until this commits (as for the shrink, services/queue-shrink.ts).
      if (pool.queueScale) await repos.jobQueue.lockClaimers(ref.tenantId, ref.poolId);
      const instances = await repos.instances.list(ref);
      const plan = planIdle(pool, instances, this.nowMs(), await wakeArmedOn(repos.nodes.list()));
      const changes = pool.queueScale
        ? queueLowering(plan.changes, instances, {
            min: pool.queueScale.min,
            leased: await leasedWorkers(repos, ref),
          })
        : plan.changes;
      const at = this.deps.clock.now().toISOString();
      const out: IdlePassResult['changed'] = [];
      for (const change of changes) {
        const instance = instances.find((i) => i.id === change.id);
        if (instance) out.push(await this.applyOne(repos, instance, change, at));
      }
      if (out.length > 0) await markDocuments(repos, { tenants: [ref.tenantId] });
      return out;
    });
  }

  private async applyOne(repos: Repos, instance: Instance, change: IdleChange, at: string) {
    const key = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
    const path = `${key.tenantId}/${key.poolId}/${key.instanceId}`;
    await repos.instances.update(
      key,
      {
        desiredStatus: change.desiredStatus,
        idleSlot: change.idleSlot,
        sleepForced: false,
        // Lowered (not a busy guest's restore): a wake its node admitted before leaves it so.
        ...(change.reason === 'idle-busy' ? {} : { loweredAt: at }),
        // A busy guest is activity: the next idle step waits a whole idle period again.
        ...(change.reason === 'idle-busy' ? { lastActiveAt: at, failureReason: null } : {}),
      },
      change.version,
      at,
    );
    await repos.audit.append({
      tenantId: key.tenantId,
      at,
      actor: ACTOR,
      action: `instance.${change.reason}`,
      target: path,
      detail: {
        from: instance.desiredStatus,
        to: change.desiredStatus,
        lastActiveAt: instance.lastActiveAt,
        ...(change.reason === 'idle-busy' ? { refusal: instance.failureReason } : {}),
      },
    });
    return { instance: path, to: change.desiredStatus, reason: change.reason };
  }
}
