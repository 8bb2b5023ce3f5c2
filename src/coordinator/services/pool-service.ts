import { memberWrites } from './apply-assignments.ts';
import { raisesPlaced, raiseTransaction, roomChecked } from './raise-room.ts';
import { SCHEDULER_LOCK } from './scheduler-lock.ts';
import type { DocumentChange } from '../desired/change-notifier.ts';
import { validateIdlePolicy } from '../../core/idle-policy.ts';
import { mergeHooks } from '../../core/pool-hooks.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.ts';
import {
  materialize,
  type MaterializeInstance,
  type MaterializeResult,
} from '../../core/materializer.ts';
import type { Instance, Pool, PoolCounts } from '../../core/model.ts';
import { validateCounts, validatePoolSpec } from '../../core/pool-spec.ts';
import { describeSource, fieldsOf, requestedSource, sourceOf } from '../../core/pool-source.ts';
import { checkPoolCreate, checkQuotas } from '../../core/quotas.ts';
import { validateSleepPolicy } from '../../core/sleep-policy.ts';
import type {
  CreatePoolRequest,
  ScalePoolRequest,
  UpdatePoolRequest,
} from '../../contract/requests.ts';
import type { PoolDetailView } from '../../contract/resources.ts';
import type { PoolMember, Repos, TenantRecord } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments, markDocumentsProbing } from './mark-documents.ts';
import { audit, auditEvent, type ServiceDeps } from './context.ts';
import { createInstances } from './instance-factory.ts';
import {
  deletePoolBuilds,
  refuseDuringRollout,
  requireRevision,
  sourceUpdate,
} from './pool-source-update.ts';
import { loadTenant, lockTenant, tenantNotFound } from './tenant-service.ts';
import { usageAfterPoolIntent } from './scale-usage.ts';

export async function loadPool(repos: Repos, tenantId: string, poolId: string): Promise<Pool> {
  return (await repos.pools.get(tenantId, poolId)) ?? poolNotFound(tenantId, poolId);
}

function poolNotFound(tenantId: string, poolId: string): never {
  throw new NotFoundError('pool', `${tenantId}/${poolId}`, `see 'mvm pool list ${tenantId}'`);
}

export interface ScaleResult {
  pool: Pool;
  created: Instance[];
  changed: Instance[];
}

/** Told when a pool has demotions put off by its minimum times, and until when. */
export interface RecheckNotes {
  note(pool: { tenantId: string; poolId: string }, at: string | undefined): void;
}

/** The pool's counts (or the given ones) materialized over its live instances at `now`. */
export function planPool(
  pool: Pool,
  instances: readonly MaterializeInstance[],
  now: Date,
  counts: PoolCounts = pool.counts,
): MaterializeResult {
  const policy = { minRunningSecs: pool.minRunningSecs, minWarmSecs: pool.minWarmSecs };
  return materialize({ counts, instances, policy, now: now.getTime() });
}

export class PoolService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'wake' | 'place' | 'writing'>,
    private readonly rechecks?: RecheckNotes,
  ) {}

  async create(principal: Principal, tenantId: string, request: CreatePoolRequest): Promise<Pool> {
    validatePoolSpec(request);
    validateSleepPolicy(request);
    validateIdlePolicy(request);
    const now = this.deps.clock.now().toISOString();
    return this.deps.store.transaction(async (repos) => {
      const tenant = await lockTenant(repos, tenantId);
      if (await repos.pools.get(tenantId, request.id)) {
        throw new ConflictError(`pool '${tenantId}/${request.id}' already exists`);
      }
      checkPoolCreate(tenantId, tenant.quotas, (await repos.pools.list({ tenantId })).length);
      const pool: Pool = {
        tenantId,
        id: request.id,
        role: request.role,
        ...fieldsOf(requestedSource(request).source ?? { kind: 'dev' }),
        revision: request.revision ?? null,
        vcpus: request.vcpus,
        memMib: request.memMib,
        dataDiskMib: request.dataDiskMib,
        counts: { running: 0, warm: 0, sleeping: 0 },
        pinned: request.pinned,
        critical: request.critical,
        minRunningSecs: request.minRunningSecs,
        minWarmSecs: request.minWarmSecs,
        idleWarmAfterSecs: request.idleWarmAfterSecs,
        idleSleepAfterSecs: request.idleSleepAfterSecs,
        servicePorts: request.servicePorts,
        publish: request.publish ?? [],
        hooks: request.hooks ?? {},
        createdAt: now,
        updatedAt: now,
        version: 1,
      };
      await repos.pools.insert(pool);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'pool.create',
        target: `${tenantId}/${pool.id}`,
        detail: {
          role: pool.role,
          source: describeSource(sourceOf(pool)),
          vcpus: pool.vcpus,
          memMib: pool.memMib,
          minRunningSecs: pool.minRunningSecs,
          minWarmSecs: pool.minWarmSecs,
          idleWarmAfterSecs: pool.idleWarmAfterSecs,
          idleSleepAfterSecs: pool.idleSleepAfterSecs,
          servicePorts: pool.servicePorts,
          publish: pool.publish,
          hooks: pool.hooks,
        },
      });
      return pool;
    });
  }

  async list(tenantId: string): Promise<Pool[]> {
    await loadTenant(this.deps.store, tenantId);
    return this.deps.store.pools.list({ tenantId });
  }

  async get(tenantId: string, poolId: string): Promise<PoolDetailView> {
    const pool = await loadPool(this.deps.store, tenantId, poolId);
    const instances = await this.deps.store.instances.list({ tenantId, poolId });
    const statuses: Record<string, number> = {};
    for (const instance of instances)
      statuses[instance.status] = (statuses[instance.status] ?? 0) + 1;
    return { ...pool, statuses, instances: instances.length };
  }

  async update(
    principal: Principal,
    tenantId: string,
    poolId: string,
    request: UpdatePoolRequest,
  ): Promise<Pool> {
    const { before, updated } = await this.updateInTransaction(
      principal,
      tenantId,
      poolId,
      request,
    );
    // A shorter minimum brings put-off demotions forward: the noted re-check may be too late.
    if (
      updated.minRunningSecs < before.minRunningSecs ||
      updated.minWarmSecs < before.minWarmSecs
    ) {
      this.rechecks?.note({ tenantId, poolId }, this.deps.clock.now().toISOString());
    }
    // The pool's settings are in the documents of the nodes holding its instances.
    this.after.wake({ tenants: [tenantId] });
    return updated;
  }

  private async updateInTransaction(
    principal: Principal,
    tenantId: string,
    poolId: string,
    request: UpdatePoolRequest,
  ): Promise<{ before: Pool; updated: Pool }> {
    return this.deps.store.transaction(async (repos) => {
      // Locked like a scale, so that neither finds the pool's version moved under it.
      await repos.tenants.lock(tenantId);
      const pool = await loadPool(repos, tenantId, poolId);
      if (request.role !== undefined && request.role !== pool.role) {
        const problem = `role is fixed at pool creation: '${tenantId}/${poolId}' is a ${pool.role} pool; create a new pool with --role ${request.role}`;
        throw new ValidationError(problem, [problem]);
      }
      if (request.revision !== undefined) {
        await requireRevision(repos, pool, request.revision);
        await refuseDuringRollout(repos, pool);
      }
      const source = sourceUpdate(pool, request);
      const patch = {
        ...(request.pinned !== undefined ? { pinned: request.pinned } : {}),
        ...(request.critical !== undefined ? { critical: request.critical } : {}),
        ...(request.minRunningSecs !== undefined ? { minRunningSecs: request.minRunningSecs } : {}),
        ...(request.minWarmSecs !== undefined ? { minWarmSecs: request.minWarmSecs } : {}),
        ...idlePatch(request),
        ...publishPatch(pool, request),
        ...(request.revision !== undefined ? { revision: request.revision } : {}),
        ...(source ? fieldsOf(source) : {}),
      };
      validateSleepPolicy({ ...pool, ...patch });
      validateIdlePolicy({ ...pool, ...patch });
      const at = this.deps.clock.now().toISOString();
      const updated = await repos.pools.update(
        tenantId,
        poolId,
        patch,
        request.expectedVersion ?? pool.version,
        at,
      );
      // The pool's settings are in the documents of the nodes holding its instances; the
      // audit event rides with their marks.
      const event = auditEvent(this.deps, principal, {
        tenantId,
        action: 'pool.update',
        target: `${tenantId}/${poolId}`,
        detail: patch,
      });
      await markDocuments(repos, { tenants: [tenantId] }, event);
      return { before: pool, updated };
    });
  }

  /**
   * Sets the pool's counts and materializes them into instance records, all in one
   * transaction, after checking the tenant's quotas against the resulting desired state.
   * Demotions the pool's minimum times put off are noted for a re-check when they fall due;
   * a scale to zero is no exception (destroying the pool is the way past them).
   */
  async scale(
    principal: Principal,
    tenantId: string,
    poolId: string,
    request: ScalePoolRequest,
  ): Promise<ScaleResult> {
    return this.after.writing(async () => {
      const { result, recheckAt, change, work } = await this.scaleInTransaction(
        principal,
        tenantId,
        poolId,
        request,
      );
      this.rechecks?.note({ tenantId, poolId }, recheckAt);
      // Placed instances changed on their nodes; new ones wait for placement (the scheduler's
      // probe was answered in the transaction, with the marks).
      await this.after.place(change, { work });
      return result;
    });
  }

  private async scaleInTransaction(
    principal: Principal,
    tenantId: string,
    poolId: string,
    request: ScalePoolRequest,
  ): Promise<{
    result: ScaleResult;
    recheckAt: string | undefined;
    change: DocumentChange;
    work: boolean;
  }> {
    return raiseTransaction(this.deps.store, async (repos) => {
      // The tenant's lock, then its pools (the scaled one, and the sizes its quotas weigh) and
      // the scaled pool's instances, only the columns the plan, the quotas and the writes
      // weigh: two statements written together on Postgres, one round trip, the read run once
      // the lock is held (pools-with-members.ts).
      const locked = await repos.pools.lockedWithMembers(tenantId, poolId);
      const tenant = locked.tenant;
      if (tenant === undefined) throw tenantNotFound(tenantId);
      const { pools, members } = locked;
      const pool = pools.find((p) => p.id === poolId) ?? poolNotFound(tenantId, poolId);
      const rows = members ?? poolNotFound(tenantId, poolId);
      const counts: PoolCounts = validateCounts({
        running: request.running ?? pool.counts.running,
        warm: request.warm ?? pool.counts.warm,
        sleeping: request.sleeping ?? pool.counts.sleeping,
      });
      const poolInstances = rows.filter(
        (i) => i.status !== 'destroyed' && i.desiredStatus !== 'destroyed',
      );
      const now = this.deps.clock.now();
      const plan = planPool(pool, poolInstances, now, counts);
      await checkScaleQuotas(repos, tenant, pools, { poolId, rows, plan });
      const at = now.toISOString();
      // Counts the operator sets are the operator's: the queue shrinks none of them. The pool
      // and its changed instances are written together (one statement on Postgres), each a
      // compare-and-set on the version read; then the raises among them are checked for room,
      // under the scheduler's lock, tried in the write when the plan raises a placed instance,
      // with the pools read above.
      const writes = memberWrites(poolInstances, plan.assignments);
      const tryLock = raisesPlaced(poolInstances, writes) ? { tryLock: SCHEDULER_LOCK } : {};
      const written = await repos.pools.updateWithMembers(
        {
          tenantId,
          id: poolId,
          patch: { counts, queueAdded: 0 },
          expectedVersion: request.expectedVersion ?? pool.version,
          ...tryLock,
        },
        writes,
        at,
      );
      const updatedPool = written.pool;
      const changed = await roomChecked(
        repos,
        this.deps,
        poolInstances,
        written.members,
        'system:scheduler',
        { pools, ...(written.locked === undefined ? {} : { locked: written.locked }) },
      );
      const created = await createInstances(
        repos,
        this.deps,
        tenant,
        updatedPool,
        plan.create,
        poolInstances.map((i) => i.id),
      );
      const result = { pool: updatedPool, created, changed };
      const change = await scaleChange(repos, tenantId, result);
      // The audit event and the scheduler's probe ride with the marks: one statement on
      // Postgres, still the last.
      const event = auditEvent(this.deps, principal, {
        tenantId,
        action: 'pool.scale',
        target: `${tenantId}/${poolId}`,
        detail: {
          from: pool.counts,
          to: counts,
          created: created.map((i) => i.id),
          changed: changed.map((i) => i.id),
          ...(plan.recheckAt !== undefined ? { deferredUntil: plan.recheckAt } : {}),
        },
      });
      const work = await markDocumentsProbing(repos, change, event);
      return { result, recheckAt: plan.recheckAt, change, work };
    });
  }

  async destroy(principal: Principal, tenantId: string, poolId: string, force: boolean) {
    const result = await this.deps.store.transaction(async (repos) => {
      await repos.tenants.lock(tenantId);
      await loadPool(repos, tenantId, poolId);
      const instances = await repos.instances.list({ tenantId, poolId });
      if (instances.length > 0 && !force) {
        throw new ConflictError(
          `pool '${tenantId}/${poolId}' still has ${instances.length} instance(s); scale it to 0 and destroy them, or pass --force`,
        );
      }
      for (const instance of instances) {
        await repos.instances.delete({ tenantId, poolId, instanceId: instance.id });
      }
      await repos.poolConfigs.delete(tenantId, poolId);
      await repos.secrets.deleteAll(tenantId, poolId);
      await deletePoolBuilds(repos, tenantId, poolId);
      await repos.pools.delete(tenantId, poolId);
      const event = auditEvent(this.deps, principal, {
        tenantId,
        action: 'pool.destroy',
        target: `${tenantId}/${poolId}`,
        detail: { instances: instances.length, force },
      });
      await markDocuments(repos, { tenants: [tenantId] }, event);
      return { destroyed: { tenants: 0, pools: 1, instances: instances.length } };
    });
    this.after.wake({ tenants: [tenantId] });
    return result;
  }
}

/** The published ports and hooks an update sets (hooks merged: null removes one). */
function publishPatch(
  pool: Pool,
  request: UpdatePoolRequest,
): Partial<Pick<Pool, 'publish' | 'hooks'>> {
  return {
    ...(request.publish !== undefined ? { publish: request.publish } : {}),
    ...(request.hooks !== undefined ? { hooks: mergeHooks(pool.hooks ?? {}, request.hooks) } : {}),
  };
}

/** The idle-policy and service-port fields an update sets. */
function idlePatch(
  request: UpdatePoolRequest,
): Partial<Pick<Pool, 'idleWarmAfterSecs' | 'idleSleepAfterSecs' | 'servicePorts'>> {
  return {
    ...(request.idleWarmAfterSecs !== undefined
      ? { idleWarmAfterSecs: request.idleWarmAfterSecs }
      : {}),
    ...(request.idleSleepAfterSecs !== undefined
      ? { idleSleepAfterSecs: request.idleSleepAfterSecs }
      : {}),
    ...(request.servicePorts !== undefined ? { servicePorts: request.servicePorts } : {}),
  };
}

/** The tenant's quotas against its usage after the scale's plan (scale-usage.ts). */
async function checkScaleQuotas(
  repos: Repos,
  tenant: TenantRecord,
  pools: readonly Pool[],
  scale: { poolId: string; rows: readonly PoolMember[]; plan: MaterializeResult },
): Promise<void> {
  const usage = await usageAfterPoolIntent(repos, tenant.id, pools, {
    poolId: scale.poolId,
    instances: scale.rows,
    desired: new Map(scale.plan.assignments.map((a) => [a.id, a.desiredStatus])),
    added: scale.plan.create,
  });
  checkQuotas(tenant.id, tenant.quotas, usage);
}

/**
 * The documents a scale changed, read in its transaction after its writes. A changed instance
 * changes its node's document. The tenant's VXLAN peers (in every document listing the
 * tenant) count the nodes holding its live instances, whatever their status, so they move
 * only when a destroyed instance was the tenant's last on its node. A created instance is in
 * no document until placed; the placement's pass says whether that grew the tenant's nodes.
 */
async function scaleChange(
  repos: Repos,
  tenantId: string,
  result: ScaleResult,
): Promise<DocumentChange> {
  const nodes = [...new Set(result.changed.flatMap((i) => (i.nodeId ? [i.nodeId] : [])))];
  const left = result.changed.flatMap((i) =>
    i.desiredStatus === 'destroyed' && i.nodeId !== null ? [i.nodeId] : [],
  );
  if (left.length === 0) return { nodes };
  const [held] = await repos.nodes.tenantNodes([tenantId]);
  const still = new Set(held?.nodeIds ?? []);
  return left.some((n) => !still.has(n)) ? { nodes, tenants: [tenantId] } : { nodes };
}
