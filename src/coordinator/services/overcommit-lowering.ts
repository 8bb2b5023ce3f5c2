import type { FleetNode, Instance } from '../../core/model.ts';
import {
  overCapacity,
  planOvercommit,
  type Overcommit,
  type OvercommitLowering,
} from '../../core/overcommit-relief.ts';
import type { PressureNode } from '../../core/pressure-sleep.ts';
import type { Repos } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { pressureView } from './pressure-pass.ts';

/** What a lowering did: the instances it lowered (with their tenants) and the nodes it could not help. */
export interface OvercommitOutcome {
  lowered: Array<OvercommitLowering & { tenantId: string }>;
  stuck: Overcommit[];
}

const ACTOR = 'system:scheduler';
const keyOf = (i: Pick<Instance, 'tenantId' | 'poolId' | 'id'>) =>
  `${i.tenantId}/${i.poolId}/${i.id}`;

export const nothingLowered = (): OvercommitOutcome => ({ lowered: [], stuck: [] });

/** A node as the pressure pass and placement count it: capacity and last memory report. */
export const pressureNode = (n: FleetNode): PressureNode => ({
  id: n.id,
  vcpus: n.capacity.vcpus,
  memMib: n.capacity.memMib,
  memReport: n.usage,
});

/**
 * Brings the nodes among `nodeIds` that hold more than their capacity back under it
 * (core/overcommit-relief.ts): their instances chosen there are desired sleeping, held in
 * their place (`pressureSleptAt`, `idleSlot` for a running one) so the scheduler's release
 * raises them back once there is room, slept with force (a busy guest would refuse a plain
 * sleep and keep the node over), each with the audit event `instance.overcommit-lowered`
 * saying why. `spare`: keys lowered only when no other will do (a wake just admitted).
 *
 * The caller holds the scheduler's lock (no placement or raise moves these nodes' loads
 * meanwhile) and the tenants in `locked`; the tenants of the instances on an overcommitted
 * node are locked too (added to `locked`), and the loads and instances read again under them.
 * Nodes under capacity cost one read of their loads; no node over, nothing more.
 */
export async function lowerOvercommitted(
  repos: Repos,
  deps: Pick<ServiceDeps, 'clock'>,
  nodeIds: readonly string[],
  options: { locked: Set<string>; spare?: ReadonlySet<string> },
): Promise<OvercommitOutcome> {
  if (nodeIds.length === 0) return nothingLowered();
  const nodes = (await repos.nodes.list({ ids: nodeIds })).map(pressureNode);
  const over = overCapacity(nodes, await repos.nodes.loads({ nodeIds }));
  if (over.length === 0) return nothingLowered();
  const overIds = over.map((o) => o.nodeId);
  await lockTenantsOn(repos, overIds, options.locked);
  const instances = await holdersOn(repos, overIds);
  const pools = new Map(
    (await repos.pools.list({ tenantIds: [...new Set(instances.map((i) => i.tenantId))] })).map(
      (p) => [`${p.tenantId}/${p.id}`, p],
    ),
  );
  const plan = planOvercommit({
    nodes: nodes.filter((n) => overIds.includes(n.id)),
    loads: await repos.nodes.loads({ nodeIds: overIds }),
    instances: instances.flatMap((i) => {
      const pool = pools.get(`${i.tenantId}/${i.poolId}`);
      return pool ? [pressureView(i, pool)] : [];
    }),
    ...(options.spare ? { spare: options.spare } : {}),
  });
  const byKey = new Map(instances.map((i) => [keyOf(i), i]));
  const why = new Map(plan.relieved.map((o) => [o.nodeId, o]));
  const at = deps.clock.now().toISOString();
  const lowered: OvercommitOutcome['lowered'] = [];
  for (const lowering of plan.lower) {
    const instance = byKey.get(lowering.key);
    if (!instance) continue;
    await lower(repos, instance, lowering, why.get(lowering.nodeId), at);
    lowered.push({ ...lowering, tenantId: instance.tenantId });
  }
  return { lowered, stuck: plan.stuck };
}

/** Locks, in byte order, the tenants with live instances on `nodeIds` not in `locked` yet. */
async function lockTenantsOn(repos: Repos, nodeIds: readonly string[], locked: Set<string>) {
  const tenants = new Set((await holdersOn(repos, nodeIds)).map((i) => i.tenantId));
  for (const tenantId of [...tenants].filter((t) => !locked.has(t)).sort()) {
    await repos.tenants.lock(tenantId);
    locked.add(tenantId);
  }
}

/** The instances desired running or warm on `nodeIds` (the only ones holding room there). */
async function holdersOn(repos: Repos, nodeIds: readonly string[]): Promise<Instance[]> {
  const all: Instance[] = [];
  for (const nodeId of nodeIds) all.push(...(await repos.instances.list({ nodeId })));
  return all.filter((i) => i.desiredStatus === 'running' || i.desiredStatus === 'warm');
}

async function lower(
  repos: Repos,
  instance: Instance,
  lowering: OvercommitLowering,
  over: Overcommit | undefined,
  at: string,
): Promise<void> {
  const ref = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
  await repos.instances.update(
    ref,
    {
      desiredStatus: 'sleeping',
      pressureSleptAt: at,
      loweredAt: at,
      idleSlot: lowering.slot === 'running' ? 'running' : null,
      sleepForced: true,
    },
    instance.version,
    at,
  );
  await repos.audit.append({
    tenantId: instance.tenantId,
    at,
    actor: ACTOR,
    action: 'instance.overcommit-lowered',
    target: lowering.key,
    detail: {
      nodeId: lowering.nodeId,
      from: lowering.slot,
      overVcpus: over?.overVcpus ?? 0,
      overMemMib: over?.overMemMib ?? 0,
      reason: reasonOf(over, lowering.slot),
    },
  });
}

/** Why it was lowered, naming only what the node is over in. */
function reasonOf(over: Overcommit | undefined, slot: 'running' | 'warm'): string {
  const by = [
    ...((over?.overVcpus ?? 0) > 0 ? [`${over?.overVcpus} vCPUs`] : []),
    ...((over?.overMemMib ?? 0) > 0 ? [`${over?.overMemMib} MiB`] : []),
  ];
  return (
    `its node holds more than its capacity (${by.join(' and ')} over, as placement counts ` +
    `it): asleep until there is room, then raised back to ${slot}`
  );
}
