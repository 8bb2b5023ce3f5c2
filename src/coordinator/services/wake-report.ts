import { ConflictError } from '../../core/errors.ts';
import { wakeRaises } from '../../core/wake-arming.ts';
import type { Instance } from '../../core/model.ts';
import type { WakeReportRequest } from '../../contract/requests.ts';
import type { InstanceKey, Repos } from '../../ports/store.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import type { ServiceDeps } from './context.ts';
import { loadInstance } from './instance-service.ts';
import { lowerOvercommitted, type OvercommitOutcome } from './overcommit-lowering.ts';
import { holdRaisesWithoutRoom, raiseTransaction, SchedulerLockBusy } from './raise-room.ts';
import { SCHEDULER_LOCK } from './scheduler-lock.ts';

/**
 * A node asks to wake one of its instances because a connection arrived (it wakes it only
 * when the answer says running: agent/wake/wake-admission.ts). Its desired status is
 * raised to running (it runs now, and the node's next document must not lower it again),
 * it counts as active, so the idle policy's minimum-awake window starts over, and the wake is
 * an audit event naming its trigger. Under the tenant's lock, like every change of intent.
 */
export async function reportWake(
  deps: ServiceDeps,
  after: Pick<AfterWrite, 'place'>,
  nodeId: string,
  key: InstanceKey,
  report: WakeReportRequest,
): Promise<Instance> {
  const path = `${key.tenantId}/${key.poolId}/${key.instanceId}`;
  const { instance, raised, tenants } = await raiseTransaction(deps.store, async (repos) => {
    await repos.tenants.lock(key.tenantId);
    const found = await loadInstance(repos, key);
    if (found.nodeId !== nodeId) {
      throw new ConflictError(
        `instance ${path} is placed on ${found.nodeId ?? 'no node'}, not on node '${nodeId}'`,
      );
    }
    const now = deps.clock.now();
    const at = now.toISOString();
    // Lowered after the node admitted it: a report repeated by a restarted agent, the first
    // answered and the lowering since standing (raising it again would lower another).
    const stale = loweredSince(found, report, now.getTime());
    const to = stale ? undefined : wakeRaises(found.desiredStatus);
    const written = stale
      ? found
      : await repos.instances.update(
          key,
          {
            lastActiveAt: at,
            ...(to
              ? { desiredStatus: to, idleSlot: null, pressureSleptAt: null, sleepForced: false }
              : {}),
          },
          found.version,
          at,
        );
    // It runs only if the node has room for it next to what it holds (checked with every
    // other raise); else it waits asleep for room and the node wakes nothing. A wake the
    // node admitted itself while this coordinator did not answer already runs: it is counted
    // as running, and if that leaves its node over capacity, other instances there are lowered
    // (this one only if no other will do).
    const node = report.admittedBy === 'node';
    const held = node
      ? new Map<string, Instance>()
      : await holdRaisesWithoutRoom(
          repos,
          deps,
          [{ before: found, after: written }],
          `node:${nodeId}`,
        );
    const lowered = node && to ? await lowerFor(repos, deps, nodeId, key.tenantId, path) : [];
    // Lowered itself (no other instance there would do): answered as it now stands.
    const self = lowered.some((l) => l.key === path);
    const updated = (self ? await repos.instances.get(key) : held.get(path)) ?? written;
    await repos.audit.append({
      tenantId: key.tenantId,
      at,
      actor: `node:${nodeId}`,
      action: 'instance.wake-on-connect',
      target: path,
      detail: {
        trigger: report.trigger,
        port: report.port,
        client: report.from,
        source: report.source,
        from: found.desiredStatus,
        to: updated.desiredStatus,
        ...(report.admittedBy ? { admittedBy: report.admittedBy } : {}),
        ...(stale ? { loweredSince: lastLowered(found) } : {}),
      },
    });
    const isRaised = to !== undefined && !held.has(path);
    const tenants = [...new Set([key.tenantId, ...lowered.map((l) => l.tenantId)])];
    if (isRaised) await markDocuments(repos, { tenants });
    return { instance: updated, raised: isRaised, tenants };
  });
  // Its node's document says running from now on (and the tenant's capacity is counted so).
  if (raised) await after.place({ tenants });
  return instance;
}

/**
 * When the coordinator last lowered the instance, this clock: `loweredAt` (every lowering:
 * an operator's warm or sleep, the idle policy, pressure, overcommit), or `pressureSleptAt` on
 * a row lowered before migration 0048; null when neither says.
 */
export function lastLowered(found: Pick<Instance, 'pressureSleptAt' | 'loweredAt'>): string | null {
  const times = [found.pressureSleptAt, found.loweredAt].filter((t) => typeof t === 'string');
  return times.length === 0
    ? null
    : times.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
}

/**
 * Whether the node admitted this wake at or before the coordinator last lowered the instance
 * (`lastLowered`): only a report repeated after an agent's restart can be (its first was
 * answered, the agent killed before it noted the answer). Its age says when it was admitted on
 * this clock, whatever the node's clock says; a report with no age (an older agent) is never
 * taken so.
 */
export function loweredSince(
  found: Pick<Instance, 'pressureSleptAt' | 'loweredAt'>,
  report: Pick<WakeReportRequest, 'admittedBy' | 'admittedMsAgo'>,
  nowMs: number,
): boolean {
  if (report.admittedBy !== 'node' || report.admittedMsAgo === undefined) return false;
  const lowered = lastLowered(found);
  if (lowered === null) return false;
  return Date.parse(lowered) >= nowMs - report.admittedMsAgo;
}

/**
 * Lowers what a wake admitted by the node left over its capacity (services/
 * overcommit-lowering.ts), under the scheduler's lock like every raise: taken without waiting
 * (this transaction holds a tenant's lock), else the transaction runs again taking it first.
 */
async function lowerFor(
  repos: Repos,
  deps: ServiceDeps,
  nodeId: string,
  tenantId: string,
  path: string,
): Promise<OvercommitOutcome['lowered']> {
  if (!(await repos.locks.tryAcquire(SCHEDULER_LOCK))) throw new SchedulerLockBusy();
  const outcome = await lowerOvercommitted(repos, deps, [nodeId], {
    locked: new Set([tenantId]),
    spare: new Set([path]),
  });
  return outcome.lowered;
}
