import type { Instance, NodeCapacity } from '../../core/model.ts';
import { overCapacity } from '../../core/overcommit-relief.ts';
import { placeInstances } from '../../core/placement.ts';
import type { Repos } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { markDocuments } from './mark-documents.ts';
import { NextRun } from './next-run.ts';
import { placementChange } from './placement-change.ts';
import { loadPlacementView } from './placement-view.ts';
import { lowerOvercommitted, pressureNode } from './overcommit-lowering.ts';
import { applyPressure, noPressure, planPressurePass, wantsRelief } from './pressure-pass.ts';
import { SCHEDULER_LOCK } from './scheduler-lock.ts';

export interface ScheduleOutcome {
  placed: Array<{ instance: string; nodeId: string }>;
  unplaced: Array<{ instance: string; reason: string }>;
  /** Warm instances put to sleep under memory pressure, with the instance each made room for. */
  slept: Array<{ instance: string; madeRoomFor: string }>;
  /** Instances held asleep by pressure that went back to warm. */
  released: string[];
  /** Instances put to sleep because their node held more than its capacity. */
  lowered: Array<{ instance: string; nodeId: string }>;
  /**
   * Tenants this pass placed on a node holding none of their live instances before: their
   * VXLAN peers moved (every document listing them).
   */
  spread: string[];
}

/**
 * `roomShrank`: a node's room shrank and it may now hold more than its capacity (a capacity
 * declared smaller by a heartbeat or a registration; a heartbeat whose report credits less
 * memory than before, its guests holding more of theirs, found it over): the pass runs even
 * when the probe finds no other work, and lowers what the node holds beyond it
 * (overcommit-lowering.ts) at once.
 */
export interface ScheduleOptions {
  /** A node's room shrank: run the pass whatever the probe says. */
  roomShrank?: boolean;
  /** The probe as the write's own transaction answered it; absent, the pass asks it. */
  work?: boolean;
}

/** Whether `after` is smaller than `before` in vCPUs or memory (what placement counts). */
export function capacityShrank(before: NodeCapacity, after: NodeCapacity): boolean {
  return after.vcpus < before.vcpus || after.memMib < before.memMib;
}

const keyOf = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;
const nothingToDo = (): ScheduleOutcome => ({
  placed: [],
  unplaced: [],
  slept: [],
  released: [],
  lowered: [],
  spread: [],
});
/** Placement's reason, saying that sleeping idle instances would not have helped either. */
function withRelief(reason: string, anyNode: boolean): string {
  if (!anyNode) return reason;
  return `${reason}, and putting to sleep the warm instances of pools that are neither critical nor pinned would not make room either`;
}

/**
 * Locks the tenants of these instances in byte order (ids are ASCII: JavaScript's order is
 * Postgres's "C" collation, the order lockAll takes), and answers which.
 */
async function lockTenants(repos: Repos, instances: readonly Instance[]): Promise<Set<string>> {
  const ids = [...new Set(instances.map((i) => i.tenantId))].sort();
  for (const id of ids) await repos.tenants.lock(id);
  return new Set(ids);
}

/**
 * Gives every unplaced, live instance a node. Identity (IP/MAC) is already fixed, so placement
 * only chooses where; a placed instance stays put (its data and snapshots live there). Under
 * memory pressure it sleeps idle warm instances to make room, and wakes them once room returns
 * (core/pressure-sleep.ts).
 */
export class SchedulerService {
  /** This replica's passes: one at a time, and callers meanwhile share the next. */
  private readonly passes = new NextRun(() => this.pass());

  constructor(private readonly deps: ServiceDeps) {}

  /**
   * Nearly every pass follows a write that left nothing unplaced and nothing held asleep (a
   * running ⇄ warm scale, a status report): two indexed probes, outside any lock, then stand
   * for the pass. That is safe: every write that leaves work runs a pass of its own after its
   * commit, and that pass's probe sees its work. `work`: a write's own transaction answered
   * the probe after its writes (`markDocumentsProbing`), so it is not asked again. A capacity
   * declared smaller, or a memory credit shrunk, leaves work the probe does not see (a node
   * over its capacity): its writer says so (`roomShrank`).
   */
  async schedule(options: ScheduleOptions = {}): Promise<ScheduleOutcome> {
    if (options.roomShrank !== true && !(options.work ?? (await this.hasWork()))) {
      return nothingToDo();
    }
    return this.passes.request();
  }

  private hasWork(): Promise<boolean> {
    return this.deps.store.instances.schedulerWork();
  }

  private async pass(): Promise<ScheduleOutcome> {
    return this.deps.store.transaction(async (repos) => {
      // One pass at a time across replicas, and no node's allocations move but by the holder's
      // placements: what a pass reads of them stands until it commits. A pass waits for the
      // one in progress rather than skipping, since that one may have read the unplaced
      // instances before this caller's commit (passes of one replica queue in `passes`).
      await repos.locks.acquire(SCHEDULER_LOCK);
      // Only the tenants whose instances it places are locked (in the order every holder of
      // several takes them): their changes of intent wait, every other tenant's go on. An
      // instance unplaced after this read is placed by its writer's own pass, next.
      const tenants = await lockTenants(repos, await repos.instances.listUnplaced());
      const view = await loadPlacementView(repos, 'pending', { pools: 'placed' });
      const { sizing } = view;
      const pending = view.pending.filter((i) => tenants.has(i.tenantId));
      const result = placeInstances(
        view.placementNodes,
        pending.map((i) => ({
          key: keyOf(i),
          pool: `${i.tenantId}/${i.poolId}`,
          vcpus: sizing(i).vcpus,
          memMib: sizing(i).memMib,
          desiredStatus: i.desiredStatus,
          critical: sizing(i).critical,
        })),
      );
      // Pressure has work only when an instance that wants RAM found no node, or something is
      // held asleep and may be released. Otherwise (nearly every pass) the fleet is not read.
      const relief = wantsRelief(pending, result);
      const pressure =
        relief || (await repos.instances.anyPressureHeld())
          ? await planPressurePass(repos, this.deps, view, pending, result, tenants, relief)
          : noPressure();
      const placed = [...result.placed, ...pressure.plan.placed];
      // Where the placed tenants were before this pass writes: read only when it places.
      const placedTenants = [...new Set(placed.map((p) => p.key.split('/')[0] ?? ''))];
      const heldBefore = await repos.nodes.tenantNodes(placedTenants);
      await this.apply(repos, pending, placed);
      await applyPressure(repos, this.deps, pressure);
      // A node over its capacity (a wake it admitted itself, a smaller capacity declared)
      // is brought back under it, cordoned or not (a cordon stops new placement; it gives
      // the host no more room); found in the view's loads, so nothing more is read when no
      // node is over.
      const holding = [...view.nodes, ...view.cordoned].map(pressureNode);
      const over = overCapacity(holding, view.loads).map((o) => o.nodeId);
      const { lowered } = await lowerOvercommitted(repos, this.deps, over, { locked: tenants });
      const relieved = new Set(pressure.plan.placed.map((p) => p.key));
      const anyNode = view.nodes.length > 0;
      const outcome: ScheduleOutcome = {
        placed: placed.map((p) => ({ instance: p.key, nodeId: p.nodeId })),
        unplaced: result.unplaced
          .filter((u) => !relieved.has(u.key))
          .map((u) => ({ instance: u.key, reason: withRelief(u.reason, anyNode) })),
        slept: pressure.plan.sleep.map((s) => ({ instance: s.key, madeRoomFor: s.madeRoomFor })),
        released: pressure.plan.release.map((r) => r.key),
        lowered: lowered.map((l) => ({ instance: l.key, nodeId: l.nodeId })),
        spread: spreadTenants(heldBefore, placed),
      };
      await markDocuments(repos, placementChange(outcome));
      return outcome;
    });
  }

  private async apply(
    repos: Repos,
    pending: Instance[],
    placed: Array<{ key: string; nodeId: string }>,
  ): Promise<void> {
    const at = this.deps.clock.now().toISOString();
    const byKey = new Map(pending.map((i) => [keyOf(i), i]));
    for (const { key, nodeId } of placed) {
      const instance = byKey.get(key);
      if (!instance) continue;
      const ref = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
      await repos.instances.update(ref, { nodeId }, instance.version, at);
    }
  }
}

/** The tenants `placed` put on a node that held none of their live instances before. */
function spreadTenants(
  before: ReadonlyArray<{ tenantId: string; nodeIds: readonly string[] }>,
  placed: ReadonlyArray<{ key: string; nodeId: string }>,
): string[] {
  const held = new Map(before.map((t) => [t.tenantId, new Set(t.nodeIds)]));
  const spread = new Set<string>();
  for (const p of placed) {
    const tenantId = p.key.split('/')[0] ?? '';
    if (!held.get(tenantId)?.has(p.nodeId)) spread.add(tenantId);
  }
  return [...spread];
}
