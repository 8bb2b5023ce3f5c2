import { DEV_REVISION } from '../../core/revision.ts';
import { ConflictError, IllegalTransitionError, NotFoundError } from '../../core/errors.ts';
import type { DesiredStatus, Instance, InstanceStatus } from '../../core/model.ts';
import { raiseDuringMove } from '../../core/instance-move.ts';
import { lowers } from '../../core/materializer.ts';
import { checkQuotas } from '../../core/quotas.ts';
import { reportChangesNothing, reportedFailureReason } from '../../core/status-report.ts';
import type {
  InstanceAction,
  InstanceActionRequest,
  WakeReportRequest,
} from '../../contract/requests.ts';
import type { InstanceFilter, InstanceKey, Repos, TenantRecord } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { holdRaisesWithoutRoom, raiseTransaction } from './raise-room.ts';
import type { DocumentChange } from '../desired/change-notifier.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadTenant, usageOf } from './tenant-service.ts';
import { reportWake } from './wake-report.ts';

export interface StatusReport {
  status: InstanceStatus;
  expectedStatus?: InstanceStatus;
  failureReason?: string;
  /** The revision the agent booted it with (`dev` or a built revision's id). */
  revision?: string;
}

const targetOf: Record<InstanceAction, DesiredStatus> = {
  start: 'running',
  stop: 'stopped',
  warm: 'warm',
  sleep: 'sleeping',
  wake: 'running',
  destroy: 'destroyed',
};

/** Which desired statuses each action may start from; the rest are illegal requests. */
const allowedFrom: Record<InstanceAction, readonly DesiredStatus[]> = {
  start: ['running', 'warm', 'sleeping', 'stopped'],
  stop: ['running', 'warm', 'sleeping', 'stopped'],
  warm: ['running', 'warm', 'sleeping'],
  sleep: ['running', 'warm', 'sleeping'],
  wake: ['warm', 'sleeping', 'running'],
  destroy: ['running', 'warm', 'sleeping', 'stopped', 'destroyed'],
};

const hints: Partial<Record<InstanceAction, string>> = {
  warm: "start it first with 'mvm instance start'",
  sleep: "start it first with 'mvm instance start'",
  wake: "only warm or sleeping instances wake; use 'mvm instance start'",
};

function label(key: InstanceKey): string {
  return `instance ${key.tenantId}/${key.poolId}/${key.instanceId}`;
}

export async function loadInstance(repos: Repos, key: InstanceKey): Promise<Instance> {
  const instance = await repos.instances.get(key);
  if (!instance) {
    throw new NotFoundError(
      'instance',
      `${key.tenantId}/${key.poolId}/${key.instanceId}`,
      `see 'mvm instance list --tenant ${key.tenantId}'`,
    );
  }
  return instance;
}

export class InstanceService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'wake' | 'place' | 'writing'>,
  ) {}

  async list(filter: InstanceFilter): Promise<Instance[]> {
    if (filter.tenantId !== undefined) await loadTenant(this.deps.store, filter.tenantId);
    return this.deps.store.instances.list(filter);
  }

  async get(key: InstanceKey): Promise<Instance> {
    return loadInstance(this.deps.store, key);
  }

  /**
   * Records what the operator wants; the agent that runs the instance makes it so. An
   * instance never placed on a node is destroyed here and now, which frees its address.
   * Counted as a write in progress: a hot node's document waits for a pause in such writes
   * (desired/recompute-pacer.ts).
   */
  async act(
    principal: Principal,
    key: InstanceKey,
    request: InstanceActionRequest,
  ): Promise<Instance> {
    return this.after.writing(async () => {
      const result = await this.actInTransaction(principal, key, request);
      // Any change may free or need capacity, so placement follows.
      await this.after.place(actChange(key, result));
      return result;
    });
  }

  private async actInTransaction(
    principal: Principal,
    key: InstanceKey,
    request: InstanceActionRequest,
  ): Promise<Instance> {
    return raiseTransaction(this.deps.store, async (repos) => {
      const tenant = await repos.tenants.lock(key.tenantId);
      const instance = await loadInstance(repos, key);
      const target = targetOf[request.action];
      if (!allowedFrom[request.action].includes(instance.desiredStatus)) {
        throw new IllegalTransitionError(
          label(key),
          instance.desiredStatus,
          target,
          hints[request.action],
        );
      }
      // While it moves, only the move raises it (on its target): a wake here would stale its bundle.
      const moving = raiseDuringMove(
        target,
        await repos.instanceMoves.activeFor(key.tenantId, key.poolId, key.instanceId),
      );
      if (moving !== undefined) throw new ConflictError(`${label(key)}: ${moving}`);
      const force = request.force === true;
      // A sleep already asked for may still be forced (its guest kept refusing).
      if (instance.desiredStatus === target && (!force || instance.sleepForced === true))
        return instance;
      // An instance exists only with its tenant: loadInstance has thrown otherwise.
      if (tenant && target !== 'destroyed' && target !== 'stopped')
        await checkQuota(repos, tenant, instance, target);
      const at = this.deps.clock.now().toISOString();
      const expected = request.expectedVersion ?? instance.version;
      let result = await repos.instances.setDesired(key, target, expected, at, {
        force,
        lowering: lowers(instance.desiredStatus, target),
      });
      // Raised from sleeping or stopped: only with room on its node, else it waits for room.
      const writes = [{ before: instance, after: result }];
      const held = await holdRaisesWithoutRoom(repos, this.deps, writes, 'system:scheduler');
      result = held.get(`${key.tenantId}/${key.poolId}/${key.instanceId}`) ?? result;
      if (target === 'destroyed' && instance.nodeId === null) {
        await repos.instances.delete(key);
        result = { ...result, status: 'destroyed' };
      }
      await audit(repos, this.deps, principal, {
        tenantId: key.tenantId,
        action: `instance.${request.action}`,
        target: `${key.tenantId}/${key.poolId}/${key.instanceId}`,
        detail: {
          from: instance.desiredStatus,
          to: target,
          status: instance.status,
          ...(force ? { force } : {}),
        },
      });
      await markDocuments(repos, actChange(key, result));
      return result;
    });
  }

  /**
   * An agent reports what it observes. Observed status is a fact, not a request, so any status
   * is accepted except leaving `destroyed`; the write is a compare-and-set on the status the
   * agent last saw. A destroyed instance that was meant to be destroyed is removed, freeing its
   * address.
   */
  async report(nodeId: string, key: InstanceKey, report: StatusReport): Promise<Instance> {
    // Most reports repeat what the store holds: one read answers them, no lock, no commit
    // (docs/scale.md, "An unchanged status report is one read").
    const held = await this.deps.store.instances.get(key);
    if (held && reportChangesNothing(held, nodeId, report)) return held;
    const { instance, removed } = await this.reportInTransaction(nodeId, key, report);
    // Observed status is not in any document: only an instance leaving it wakes its node.
    if (removed) this.after.wake({ nodes: [nodeId] });
    return instance;
  }

  private async reportInTransaction(
    nodeId: string,
    key: InstanceKey,
    report: StatusReport,
  ): Promise<{ instance: Instance; removed: boolean }> {
    return this.deps.store.transaction(async (repos) => {
      // An agent's report moves the instance's version: it waits for, and does not break, a
      // change of intent that read the instance under the tenant's lock.
      await repos.tenants.lock(key.tenantId);
      const instance = await loadInstance(repos, key);
      if (instance.nodeId !== nodeId) {
        throw new ConflictError(
          `${label(key)} is placed on ${instance.nodeId ?? 'no node'}, not on node '${nodeId}'`,
        );
      }
      const from = report.expectedStatus ?? instance.status;
      const failureReason = reportedFailureReason(report);
      const unchanged = from === report.status && instance.status === report.status;
      // The agent says which revision it booted: after a pool's revision changed, an
      // instance runs the new one only from its next boot.
      const revision = await this.reportedRevision(repos, instance, report.revision);
      if (unchanged && instance.failureReason === failureReason && revision === undefined) {
        return { instance, removed: false };
      }
      if (instance.status === 'destroyed') {
        throw new IllegalTransitionError(label(key), instance.status, report.status);
      }
      const at = this.deps.clock.now().toISOString();
      const updated = await repos.instances.transition(key, from, report.status, at, {
        failureReason,
        ...(revision !== undefined ? { revision } : {}),
      });
      const removed = report.status === 'destroyed' && instance.desiredStatus === 'destroyed';
      if (removed) {
        await repos.instances.delete(key);
        await markDocuments(repos, { nodes: [nodeId] });
      }
      return { instance: updated, removed };
    });
  }

  /** A node woke the instance on a connection (services/wake-report.ts). */
  reportWake(nodeId: string, key: InstanceKey, report: WakeReportRequest): Promise<Instance> {
    return reportWake(this.deps, this.after, nodeId, key, report);
  }

  /** A revision the agent reports that differs from the stored one and the pool knows. */
  private async reportedRevision(
    repos: Repos,
    instance: Instance,
    revision: string | undefined,
  ): Promise<string | undefined> {
    if (revision === undefined || revision === instance.revision) return undefined;
    if (revision === DEV_REVISION) return revision;
    const known = await repos.revisions.get(instance.tenantId, instance.poolId, revision);
    return known ? revision : undefined;
  }
}

/**
 * The documents an action changed: a placed instance's node's, and when it is destroyed its
 * tenant's too (peers count live instances). An unplaced one is in no document.
 */
function actChange(key: InstanceKey, result: Instance): DocumentChange {
  if (result.nodeId === null) return {};
  if (result.desiredStatus === 'destroyed') return { tenants: [key.tenantId] };
  return { nodes: [result.nodeId] };
}

async function checkQuota(
  repos: Repos,
  tenant: TenantRecord,
  instance: Instance,
  target: DesiredStatus,
): Promise<void> {
  const usage = await usageOf(repos, tenant.id, {
    moved: [{ poolId: instance.poolId, from: instance.desiredStatus, to: target }],
  });
  checkQuotas(tenant.id, tenant.quotas, usage);
}
