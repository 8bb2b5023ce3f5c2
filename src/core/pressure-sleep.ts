import type { DesiredStatus, Instance, InstanceStatus, Pool, Quotas } from './model.ts';
import { quotaViolations, tenantUsage } from './quotas.ts';
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
  /** Set while held asleep by pressure. */
  pressureSleptAt: string | null;
  critical: boolean;
  pinned: boolean;
  minWarmSecs: number;
}

export interface PressureInput {
  /** Nodes that take placements. */
  nodes: readonly PressureNode[];
  /** Every live instance. */
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
  /** Pressure-slept instances whose node has room for them again. */
  release: Array<{ key: string; nodeId: string }>;
}

interface Room {
  vcpus: number;
  memMib: number;
}

const holds = (status: DesiredStatus) => status === 'running' || status === 'warm';
const byKey = (a: { key: string }, b: { key: string }) =>
  a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
const fits = (need: Room, free: Room) => need.vcpus <= free.vcpus && need.memMib <= free.memMib;

/** What each node has left once everything desired running or warm there is counted. */
function freeRoom(input: PressureInput): Map<string, Room> {
  const free = new Map(input.nodes.map((n) => [n.id, { vcpus: n.vcpus, memMib: n.memMib }]));
  for (const instance of input.instances) {
    const room = instance.nodeId === null ? undefined : free.get(instance.nodeId);
    if (!room || !holds(instance.desiredStatus)) continue;
    room.vcpus -= instance.vcpus;
    room.memMib -= instance.memMib;
  }
  return free;
}

export function isSleepCandidate(instance: PressureInstance, nowMs: number): boolean {
  if (instance.critical || instance.pinned) return false;
  if (instance.desiredStatus !== 'warm' || instance.status !== 'warm') return false;
  const since = toMs(instance.statusSince);
  return since === undefined || nowMs - since >= instance.minWarmSecs * 1000;
}

/** The fewest of `candidates` (coldest first) whose sleep lets `need` fit; undefined if none. */
function victimsFor(need: Room, free: Room, candidates: readonly PressureInstance[]) {
  const left = { ...free };
  const chosen: PressureInstance[] = [];
  for (const candidate of candidates) {
    if (fits(need, left)) break;
    chosen.push(candidate);
    left.vcpus += candidate.vcpus;
    left.memMib += candidate.memMib;
  }
  if (!fits(need, left)) return undefined;
  left.vcpus -= need.vcpus;
  left.memMib -= need.memMib;
  // Spare a victim that fits in what is left, or the next release would wake it at once.
  for (const victim of [...chosen].reverse()) {
    if (!fits(victim, left)) continue;
    chosen.splice(chosen.indexOf(victim), 1);
    left.vcpus -= victim.vcpus;
    left.memMib -= victim.memMib;
  }
  return { victims: chosen, left };
}

function relieve(input: PressureInput, free: Map<string, Room>, plan: PressurePlan): void {
  const candidates = input.instances
    .filter((i) => i.nodeId !== null && isSleepCandidate(i, input.nowMs))
    .sort((a, b) => -hotterFirst(a, b) || byKey(a, b));
  const taken = new Set<string>();
  const pending = new Map(input.instances.map((i) => [i.key, i]));
  const nodes = [...input.nodes].sort((a, b) => byKey({ key: a.id }, { key: b.id }));
  for (const key of input.unplaced) {
    const request = pending.get(key);
    if (!request || !holds(request.desiredStatus)) continue;
    let best: { nodeId: string; victims: PressureInstance[]; left: Room } | undefined;
    for (const node of nodes) {
      const mine = candidates.filter((c) => c.nodeId === node.id && !taken.has(c.key));
      const found = victimsFor(request, free.get(node.id)!, mine);
      if (found && (!best || found.victims.length < best.victims.length)) {
        best = { nodeId: node.id, ...found };
      }
    }
    if (!best) continue;
    free.set(best.nodeId, best.left);
    plan.placed.push({ key, nodeId: best.nodeId });
    for (const victim of best.victims) {
      taken.add(victim.key);
      plan.sleep.push({ key: victim.key, nodeId: best.nodeId, madeRoomFor: key });
    }
  }
}

function release(input: PressureInput, free: Map<string, Room>, plan: PressurePlan): void {
  const held = input.instances
    .filter((i) => i.pressureSleptAt !== null && i.nodeId !== null)
    .sort((a, b) => (toMs(a.pressureSleptAt) ?? 0) - (toMs(b.pressureSleptAt) ?? 0) || byKey(a, b));
  for (const instance of held) {
    const room = free.get(instance.nodeId!);
    if (!room || !fits(instance, room)) continue;
    room.vcpus -= instance.vcpus;
    room.memMib -= instance.memMib;
    plan.release.push({ key: instance.key, nodeId: instance.nodeId! });
  }
}

/** Relief for what placement left unplaced, then release of what fits again. Pure. */
export function planPressure(input: PressureInput): PressurePlan {
  const free = freeRoom(input);
  const plan: PressurePlan = { placed: [], sleep: [], release: [] };
  relieve(input, free, plan);
  release(input, free, plan);
  return plan;
}

/**
 * The releases that keep every tenant within its quotas, oldest marker first as planned. A
 * pressure-slept instance counts as sleeping against its tenant's quotas; if the quotas were
 * lowered while it slept (max-warm, memory), waking it would break them, so it stays asleep
 * (still marked, released once a later change makes room within the quota). Pure.
 */
export function releasesWithinQuota<R extends { key: string }>(
  releases: readonly R[],
  instances: readonly Instance[],
  pools: readonly Pool[],
  quotas: ReadonlyMap<string, Quotas>,
): R[] {
  const keyOf = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;
  const desired = new Map(instances.map((i) => [keyOf(i), i]));
  const admitted: R[] = [];
  for (const release of releases) {
    const instance = desired.get(release.key);
    const limits = instance && quotas.get(instance.tenantId);
    if (!instance || !limits) continue;
    const woken = { ...instance, desiredStatus: 'warm' as const };
    const mine = [...desired.values()].filter((i) => i.tenantId === instance.tenantId);
    const after = mine.map((i) => (i === instance ? woken : i));
    const tenantPools = pools.filter((p) => p.tenantId === instance.tenantId);
    if (quotaViolations(limits, tenantUsage(tenantPools, after)).length > 0) continue;
    desired.set(release.key, woken);
    admitted.push(release);
  }
  return admitted;
}
