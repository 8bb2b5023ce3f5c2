import type { Instance } from '../../core/model.ts';
import { holdsResources, type PlacementResult } from '../../core/placement.ts';
import {
  planPressure,
  type PressureInstance,
  type PressurePlan,
} from '../../core/pressure-sleep.ts';
import { reliefNodes } from '../../core/relief-nodes.ts';
import { releasesWithinCounts } from '../../core/release-quota.ts';
import type { DesiredCount, Repos } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { withPoolsOf, type PlacementView, type Sizing } from './placement-view.ts';

/** What a pressure pass decided, with the instances it may write (read under their locks). */
export interface PressureWork {
  instances: Instance[];
  plan: PressurePlan;
}

const ACTOR = 'system:scheduler';
const keyOf = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;

export const noPressure = (): PressureWork => ({
  instances: [],
  plan: { placed: [], sleep: [], release: [] },
});

export function pressureView(i: Instance, pool: Sizing): PressureInstance {
  return {
    key: keyOf(i),
    nodeId: i.nodeId,
    vcpus: pool.vcpus,
    memMib: pool.memMib,
    status: i.status,
    desiredStatus: i.desiredStatus,
    statusSince: i.statusSince,
    lastActiveAt: i.lastActiveAt,
    pressureSleptAt: i.pressureSleptAt,
    // Held below a raise for room: it goes back to the place it holds.
    releaseTo: i.pressureSleptAt !== null && i.idleSlot !== null ? i.idleSlot : undefined,
    critical: pool.critical,
    pinned: pool.pinned,
    minWarmSecs: pool.minWarmSecs,
  };
}

/**
 * The instances relief and release consider, and no others: those held (by pressure, or below
 * a raise for room), and when an instance wanting RAM found no node, the warm ones on
 * `reliefOn` (the nodes that could hold it, core/relief-nodes.ts) that could be put to sleep
 * for it, read by their index. Their tenants are locked (beyond `locked`, which the pass
 * holds already), and what was read before a lock is read again under it. Their tenants'
 * pools are added to the view (it read only the placed tenants').
 */
async function readConcerned(
  repos: Repos,
  view: PlacementView,
  reliefOn: readonly string[],
  locked: Set<string>,
): Promise<Instance[]> {
  const read = async () => {
    const held = await repos.instances.listPressureHeld();
    await withPoolsOf(repos, view, held);
    if (reliefOn.length === 0) return held;
    const candidates = await repos.instances.listWarmOn(reliefOn);
    await withPoolsOf(repos, view, candidates);
    const warm = candidates.filter((i) => {
      const pool = view.sizing(i);
      return !pool.critical && !pool.pinned;
    });
    return [...held, ...warm];
  };
  const first = await read();
  const more = [...new Set(first.map((i) => i.tenantId))].filter((t) => !locked.has(t)).sort();
  if (more.length === 0) return first;
  // Every other holder of several tenant locks (lockAll, a pass) holds the scheduler's lock
  // too, so taking these after the placed tenants' cannot deadlock with one of them.
  for (const tenantId of more) {
    await repos.tenants.lock(tenantId);
    locked.add(tenantId);
  }
  return (await read()).filter((i) => locked.has(i.tenantId));
}

/**
 * What each node holds by size (the store's sums the view read, before this pass wrote)
 * with this pass's placements added.
 */
function loadsWithPlaced(
  view: PlacementView,
  pending: readonly Instance[],
  result: PlacementResult,
): Array<{ nodeId: string; vcpus: number; memMib: number }> {
  const loads = new Map(view.loads.map((l) => [l.nodeId, { ...l }]));
  const byKey = new Map(pending.map((i) => [keyOf(i), i]));
  for (const { key, nodeId } of result.placed) {
    const instance = byKey.get(key);
    if (!instance || !holdsResources(instance.desiredStatus)) continue;
    const load = loads.get(nodeId) ?? { nodeId, vcpus: 0, memMib: 0 };
    load.vcpus += view.sizing(instance).vcpus;
    load.memMib += view.sizing(instance).memMib;
    loads.set(nodeId, load);
  }
  return [...loads.values()];
}

/** Whether an instance placement could not place wants vCPUs and RAM: relief has work. */
export function wantsRelief(pending: readonly Instance[], result: PlacementResult): boolean {
  const wanting = new Set(pending.filter((i) => holdsResources(i.desiredStatus)).map(keyOf));
  return result.unplaced.some((u) => wanting.has(u.key));
}

/**
 * Relief and release (core/pressure-sleep.ts) over what they concern, not the fleet: the held
 * instances, the sleep candidates only when relief has work, per-node totals from the store,
 * and for quotas only the tenants with a release. Locks only the tenants it may change.
 * `relief`: what `wantsRelief` answered for this pass.
 */
export async function planPressurePass(
  repos: Repos,
  deps: Pick<ServiceDeps, 'clock'>,
  view: PlacementView,
  pending: readonly Instance[],
  result: PlacementResult,
  locked: Set<string>,
  relief: boolean,
): Promise<PressureWork> {
  const unplaced = new Set(result.unplaced.map((u) => u.key));
  const wanting = pending.filter((i) => unplaced.has(keyOf(i)) && holdsResources(i.desiredStatus));
  const reliefOn = relief ? reliefNodes(view.placementNodes, wanting.map(view.sizing)) : [];
  const concerned = await readConcerned(repos, view, reliefOn, locked);
  const reports = new Map(view.nodes.map((n) => [n.id, n.usage]));
  const plan = planPressure({
    // Memory counted as placement counts it: the node's report credits what was not held.
    nodes: view.placementNodes.map((n) => ({ ...n, memReport: reports.get(n.id) })),
    loads: loadsWithPlaced(view, pending, result),
    instances: [...pending.filter((i) => unplaced.has(keyOf(i))), ...concerned].map((i) =>
      pressureView(i, view.sizing(i)),
    ),
    unplaced: result.unplaced.map((u) => u.key),
    nowMs: deps.clock.now().getTime(),
  });
  plan.release = await withinQuotas(repos, view, plan.release, concerned);
  return { instances: concerned, plan };
}

/**
 * The releases that keep their tenants within quotas: those tenants' instances counted in
 * the store by pool and desired status, not read one by one.
 */
async function withinQuotas(
  repos: Repos,
  view: PlacementView,
  releases: PressurePlan['release'],
  concerned: readonly Instance[],
): Promise<PressurePlan['release']> {
  if (releases.length === 0) return releases;
  const byKey = new Map(concerned.map((i) => [keyOf(i), i]));
  const ids = [...new Set(releases.map((r) => byKey.get(r.key)?.tenantId ?? ''))].sort();
  const counts = new Map<string, DesiredCount[]>();
  for (const tenantId of ids) counts.set(tenantId, await repos.instances.desiredCounts(tenantId));
  const quotas = new Map((await repos.tenants.list({ ids })).map((t) => [t.id, t.quotas]));
  const pools = [...view.pools.values()].filter((p) => ids.includes(p.tenantId));
  return releasesWithinCounts(releases, byKey, counts, pools, quotas);
}

/** Puts the victims to sleep and raises the released, each with its audit event. */
export async function applyPressure(
  repos: Repos,
  deps: Pick<ServiceDeps, 'clock'>,
  { instances, plan }: PressureWork,
): Promise<void> {
  const at = deps.clock.now().toISOString();
  const byKey = new Map(instances.map((i) => [keyOf(i), i]));
  const changes = [
    ...plan.sleep.map((s) => ({
      key: s.key,
      action: 'instance.pressure-sleep',
      patch: { desiredStatus: 'sleeping', pressureSleptAt: at, loweredAt: at } as const,
      detail: { nodeId: s.nodeId, madeRoomFor: s.madeRoomFor },
    })),
    ...plan.release.map((r) => ({
      key: r.key,
      action:
        byKey.get(r.key)?.idleSlot === null
          ? 'instance.pressure-release'
          : 'instance.raise-admitted',
      // A node lowered for its capacity slept it with force; raised, it is a plain one again.
      patch: {
        desiredStatus: r.to,
        pressureSleptAt: null,
        idleSlot: null,
        sleepForced: false,
      } as const,
      detail: { nodeId: r.nodeId, to: r.to },
    })),
  ];
  for (const { key, action, patch, detail } of changes) {
    const instance = byKey.get(key);
    if (!instance) continue;
    const ref = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
    await repos.instances.update(ref, patch, instance.version, at);
    await repos.audit.append({
      tenantId: instance.tenantId,
      at,
      actor: ACTOR,
      action,
      target: key,
      detail,
    });
  }
}
