import { committedMemMib } from './held-memory.ts';
import { holdsResources } from './placement.ts';
import type { PressureInstance, PressureNode } from './pressure-sleep.ts';
import { hotterFirst } from './sleep-policy.ts';

/**
 * Bringing an overcommitted node back under its capacity. A node can hold more than its
 * declared capacity only through a wake it admitted itself while the coordinator did not
 * answer (agent/wake/wake-admitter.ts; counted running once reported: it already runs), or a
 * capacity its heartbeat declared smaller since. Placement, relief, release and raises never
 * overcommit, so nothing else lowers what runs there until its idle policy does.
 *
 * Such a node's instances are lowered to sleeping until what is left fits, counted as
 * placement and the pressure pass count them (vCPUs by size, memory less the node's last
 * report's credit, core/held-memory.ts), so release cannot raise a victim straight back.
 * Candidates are desired running or warm, of pools neither critical nor pinned (what the
 * pressure pass never sleeps either). Warm ones go first (a paused VM serves nothing), then
 * running ones; within each, coldest first (last active longest ago, never active first),
 * ties by key; the `spare` (a wake just admitted) go last of all, so one is lowered only when
 * the others cannot make room. Once it fits, any victim that would fit again in what is left
 * is spared, last chosen first: no more is lowered than needed. A node that cannot be brought
 * under even with every candidate lowered has nothing lowered (it is `stuck`, for the event
 * log): lowering part of it would stop guests and still leave it over.
 *
 * A victim is desired sleeping, held (`pressureSleptAt`) in the place it had (`slot`), so
 * nothing is woken in its place and the scheduler's release raises it back once its node has
 * room. Pure, property-tested (test/core/overcommit-relief.test.ts).
 */
export interface OvercommitInput {
  /** Nodes that take placements, with their last memory report. */
  nodes: readonly PressureNode[];
  /** What each node's running and warm instances hold by size (`nodes.loads()`). */
  loads: ReadonlyArray<{ nodeId: string; vcpus: number; memMib: number }>;
  /** At least the instances desired running or warm on the nodes over capacity. */
  instances: readonly PressureInstance[];
  /** Keys lowered only when no other candidate will do: wakes just admitted. */
  spare?: ReadonlySet<string>;
}

export interface OvercommitLowering {
  key: string;
  nodeId: string;
  /** The place it held, and goes back to once released. */
  slot: 'running' | 'warm';
}

/** A node over its capacity: by how much, as placement counts it (positive = over). */
export interface Overcommit {
  nodeId: string;
  overVcpus: number;
  overMemMib: number;
}

export interface OvercommitPlan {
  lower: OvercommitLowering[];
  /** Nodes brought back under their capacity by `lower`, and by how much they were over. */
  relieved: Overcommit[];
  /** Nodes over capacity that lowering every candidate would not bring under. */
  stuck: Overcommit[];
}

interface Held {
  vcpus: number;
  memMib: number;
}

const byKey = (a: { key: string }, b: { key: string }) =>
  a.key < b.key ? -1 : a.key > b.key ? 1 : 0;

/** How far `held` is over the node's capacity (≤ 0: it fits), memory as placement counts it. */
function overOf(node: PressureNode, held: Held): Omit<Overcommit, 'nodeId'> {
  return {
    overVcpus: held.vcpus - node.vcpus,
    overMemMib: committedMemMib(held.memMib, node.memReport) - node.memMib,
  };
}

const fitsIn = (node: PressureNode, held: Held): boolean => {
  const over = overOf(node, held);
  return over.overVcpus <= 0 && over.overMemMib <= 0;
};

/** The nodes whose loads are over their capacity, by id. Pure. */
export function overCapacity(
  nodes: readonly PressureNode[],
  loads: OvercommitInput['loads'],
): Overcommit[] {
  const held = new Map(loads.map((l) => [l.nodeId, l]));
  return nodes
    .map((n) => ({ nodeId: n.id, ...overOf(n, held.get(n.id) ?? { vcpus: 0, memMib: 0 }) }))
    .filter((o) => o.overVcpus > 0 || o.overMemMib > 0)
    .sort((a, b) => byKey({ key: a.nodeId }, { key: b.nodeId }));
}

/** Whether the pressure pass's rules let `i` be lowered for its node's capacity. */
export function isOvercommitCandidate(i: PressureInstance): boolean {
  return !i.critical && !i.pinned && holdsResources(i.desiredStatus);
}

/** Candidates in the order they are lowered: warm, then running, coldest first; spare last. */
function lowerOrder(candidates: PressureInstance[], spare: ReadonlySet<string>) {
  const rank = (i: PressureInstance) =>
    (spare.has(i.key) ? 2 : 0) + (i.desiredStatus === 'warm' ? 0 : 1);
  return candidates.sort((a, b) => rank(a) - rank(b) || -hotterFirst(a, b) || byKey(a, b));
}

/** The fewest victims, in order, that bring `held` under the node's capacity; none if none do. */
function victimsOn(node: PressureNode, held: Held, ordered: readonly PressureInstance[]) {
  const left = { ...held };
  const chosen: PressureInstance[] = [];
  for (const candidate of ordered) {
    if (fitsIn(node, left)) break;
    chosen.push(candidate);
    left.vcpus -= candidate.vcpus;
    left.memMib -= candidate.memMib;
  }
  if (!fitsIn(node, left)) return undefined;
  for (const victim of [...chosen].reverse()) {
    const back = { vcpus: left.vcpus + victim.vcpus, memMib: left.memMib + victim.memMib };
    if (!fitsIn(node, back)) continue;
    chosen.splice(chosen.indexOf(victim), 1);
    Object.assign(left, back);
  }
  return chosen;
}

/** What to lower so that no node stays over its capacity where lowering can help. Pure. */
export function planOvercommit(input: OvercommitInput): OvercommitPlan {
  const plan: OvercommitPlan = { lower: [], relieved: [], stuck: [] };
  const spare = input.spare ?? new Set<string>();
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const held = new Map(input.loads.map((l) => [l.nodeId, l]));
  for (const over of overCapacity(input.nodes, input.loads)) {
    const node = nodes.get(over.nodeId)!;
    const mine = input.instances.filter(
      (i) => i.nodeId === node.id && i.pressureSleptAt === null && isOvercommitCandidate(i),
    );
    const victims = victimsOn(node, held.get(node.id)!, lowerOrder(mine, spare));
    if (!victims) {
      plan.stuck.push(over);
      continue;
    }
    plan.relieved.push(over);
    for (const v of victims) {
      plan.lower.push({
        key: v.key,
        nodeId: node.id,
        slot: v.desiredStatus === 'warm' ? 'warm' : 'running',
      });
    }
  }
  return plan;
}
