import { committedMemMib, type HeldReport } from './held-memory.ts';
import { holdsResources } from './placement.ts';
import type { DesiredStatus, InstanceStatus } from './model.ts';
import { hotterFirst, toMs } from './sleep-policy.ts';

/**
 * Sleep under memory pressure: what the scheduler does when placement leaves an instance that
 * wants RAM (desired running or warm) without a node, and undoes once room returns.
 *
 * Relief. Warm instances hold their vCPUs and RAM while doing nothing (a paused VM is idle by
 * definition); sleeping ones hold only disk. So the scheduler may put warm instances of a node
 * to sleep until a pending instance fits there. A candidate is desired warm and observed warm,
 * belongs to a pool that is neither critical (never slept automatically) nor pinned (never
 * moved or rebalanced), and has been warm for at least its pool's minWarmSecs. Candidates go
 * coldest first (last active longest ago, never active first), ties by key; once the pending
 * instance fits, any chosen victim that would fit again in what is left is spared, hottest
 * first. The node needing the fewest victims wins, then the lowest node id. Pending instances
 * are served in placement's order, which puts critical pools first. An instance no node can
 * take even with every candidate asleep stays unplaced.
 *
 * Memory is counted as placement counts it (core/held-memory.ts): a node's committed memory is
 * the sizes of what it has running or warm, less its last report's credit for what those
 * instances were sized at but did not hold. So a node whose idle guests handed pages back
 * needs fewer victims, and a victim frees what its sleep takes out of that figure.
 *
 * Each victim is desired sleeping and marked as held asleep by pressure. The materializer
 * still counts it in its pool's warm slot, so nothing else is woken in its place.
 *
 * Release. Whenever the scheduler runs, after the pending instances have been placed and
 * relieved, a pressure-slept instance whose node has room for its vCPUs and RAM next to
 * everything holding them there goes back to warm and loses its marker; the oldest marker
 * goes first, ties by key.
 *
 * No flapping: relief only serves an instance nothing else can place, and spares every victim
 * that would fit beside it, so nothing it sleeps can be released in the same or a later run
 * until something else frees room; release only takes room nobody holds, so it never evicts
 * and never undoes a relief. A released instance is warm again from the moment the agent
 * wakes it, so its pool's minWarmSecs guards it from being picked again straight away.
 */
export interface PressureNode {
  id: string;
  vcpus: number;
  memMib: number;
  /** The node's last report of what its running and warm instances held; none: by size. */
  memReport?: HeldReport | null | undefined;
}

export interface PressureInstance {
  key: string;
  /** Where the instance is, with this run's placements already applied; null = unplaced. */
  nodeId: string | null;
  vcpus: number;
  memMib: number;
  status: InstanceStatus;
  desiredStatus: DesiredStatus;
  /** When the observed status last changed; null counts as long ago. */
  statusSince: string | null;
  /** Null = never active, the coldest. */
  lastActiveAt: string | null;
  /** Set while held asleep by pressure, or held below a raise for room (core/raise-room.ts). */
  pressureSleptAt: string | null;
  /**
   * Where a release puts it: the place a raise without room left it holding (`idleSlot`);
   * absent: warm, the place a pressure sleep took it from.
   */
  releaseTo?: 'running' | 'warm' | undefined;
  critical: boolean;
  pinned: boolean;
  minWarmSecs: number;
}

export interface PressureInput {
  /** Nodes that take placements. */
  nodes: readonly PressureNode[];
  /**
   * What each node's running and warm instances hold by size, this run's placements included
   * (the store sums it: `nodes.loads()`). With it, `instances` need only be the sleep
   * candidates, the held and the unplaced; without it they must be every live instance, and
   * the loads are summed from them.
   */
  loads?: ReadonlyArray<{ nodeId: string; vcpus: number; memMib: number }>;
  /** Every live instance, or with `loads` those that relief and release consider. */
  instances: readonly PressureInstance[];
  /** Keys placement could not place, in the order it tried them. */
  unplaced: readonly string[];
  nowMs: number;
}

export interface PressurePlan {
  /** Pending instances that fit once their victims sleep. */
  placed: Array<{ key: string; nodeId: string }>;
  /** Instances to put to sleep, each with the pending instance it makes room for. */
  sleep: Array<{ key: string; nodeId: string; madeRoomFor: string }>;
  /** Held instances whose node has room for them again, and the status they go back to. */
  release: Array<{ key: string; nodeId: string; to: 'running' | 'warm' }>;
}

interface Room {
  vcpus: number;
  memMib: number;
}

/**
 * What a node has committed, by size: `memMib` of the instances its last report may cover
 * (memory is credited from that report in `freeOf`), `freshMib` of what this plan adds there
 * (a pending instance placed, a held one released), which no report covers yet and which
 * therefore never takes a credit a victim's sleep gave up.
 */
interface Load {
  node: PressureNode;
  vcpus: number;
  memMib: number;
  freshMib: number;
}

const byKey = (a: { key: string }, b: { key: string }) =>
  a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
const fits = (need: Room, free: Room) => need.vcpus <= free.vcpus && need.memMib <= free.memMib;

/** What is left on the load's node: vCPUs by size, memory as placement commits it. */
function freeOf(load: Load): Room {
  const { node } = load;
  return {
    vcpus: node.vcpus - load.vcpus,
    memMib: node.memMib - committedMemMib(load.memMib, node.memReport) - load.freshMib,
  };
}

/** Counts `room` on the load (`sign` -1 takes it off); `fresh`: added by this plan. */
const add = (load: Load, room: Room, sign: 1 | -1, fresh = false): void => {
  load.vcpus += sign * room.vcpus;
  if (fresh) load.freshMib += sign * room.memMib;
  else load.memMib += sign * room.memMib;
};

/** Each node's load once everything desired running or warm there is counted. */
function loads(input: PressureInput): Map<string, Load> {
  const all = new Map(
    input.nodes.map((n) => [n.id, { node: n, vcpus: 0, memMib: 0, freshMib: 0 }]),
  );
  if (input.loads) {
    for (const held of input.loads) {
      const load = all.get(held.nodeId);
      if (load) add(load, held, 1);
    }
    return all;
  }
  for (const instance of input.instances) {
    const load = instance.nodeId === null ? undefined : all.get(instance.nodeId);
    if (load && holdsResources(instance.desiredStatus)) add(load, instance, 1);
  }
  return all;
}

export function isSleepCandidate(instance: PressureInstance, nowMs: number): boolean {
  if (instance.critical || instance.pinned) return false;
  if (instance.desiredStatus !== 'warm' || instance.status !== 'warm') return false;
  const since = toMs(instance.statusSince);
  return since === undefined || nowMs - since >= instance.minWarmSecs * 1000;
}

/** The fewest of `candidates` (coldest first) whose sleep lets `need` fit; undefined if none. */
function victimsFor(need: Room, load: Load, candidates: readonly PressureInstance[]) {
  const after = { ...load };
  const chosen: PressureInstance[] = [];
  for (const candidate of candidates) {
    if (fits(need, freeOf(after))) break;
    chosen.push(candidate);
    add(after, candidate, -1);
  }
  if (!fits(need, freeOf(after))) return undefined;
  add(after, need, 1, true);
  // Spare a victim that fits in what is left, or the next release would wake it at once.
  for (const victim of [...chosen].reverse()) {
    if (!fits(victim, freeOf(after))) continue;
    chosen.splice(chosen.indexOf(victim), 1);
    add(after, victim, 1);
  }
  return { victims: chosen, after };
}

function relieve(input: PressureInput, all: Map<string, Load>, plan: PressurePlan): void {
  const candidates = input.instances
    .filter((i) => i.nodeId !== null && isSleepCandidate(i, input.nowMs))
    .sort((a, b) => -hotterFirst(a, b) || byKey(a, b));
  const taken = new Set<string>();
  const pending = new Map(input.instances.map((i) => [i.key, i]));
  const nodes = [...input.nodes].sort((a, b) => byKey({ key: a.id }, { key: b.id }));
  for (const key of input.unplaced) {
    const request = pending.get(key);
    if (!request || !holdsResources(request.desiredStatus)) continue;
    let best: { nodeId: string; victims: PressureInstance[]; after: Load } | undefined;
    for (const node of nodes) {
      const mine = candidates.filter((c) => c.nodeId === node.id && !taken.has(c.key));
      const found = victimsFor(request, all.get(node.id)!, mine);
      if (found && (!best || found.victims.length < best.victims.length)) {
        best = { nodeId: node.id, ...found };
      }
    }
    if (!best) continue;
    all.set(best.nodeId, best.after);
    plan.placed.push({ key, nodeId: best.nodeId });
    for (const victim of best.victims) {
      taken.add(victim.key);
      plan.sleep.push({ key: victim.key, nodeId: best.nodeId, madeRoomFor: key });
    }
  }
}

function release(input: PressureInput, all: Map<string, Load>, plan: PressurePlan): void {
  const held = input.instances
    .filter((i) => i.pressureSleptAt !== null && i.nodeId !== null)
    .sort((a, b) => (toMs(a.pressureSleptAt) ?? 0) - (toMs(b.pressureSleptAt) ?? 0) || byKey(a, b));
  for (const instance of held) {
    const load = all.get(instance.nodeId!);
    if (!load || !fits(instance, freeOf(load))) continue;
    add(load, instance, 1, true);
    plan.release.push({
      key: instance.key,
      nodeId: instance.nodeId!,
      to: instance.releaseTo ?? 'warm',
    });
  }
}

/** Relief for what placement left unplaced, then release of what fits again. Pure. */
export function planPressure(input: PressureInput): PressurePlan {
  const all = loads(input);
  const plan: PressurePlan = { placed: [], sleep: [], release: [] };
  relieve(input, all, plan);
  release(input, all, plan);
  return plan;
}
