import type { DesiredStatus, Instance, Pool } from './model.ts';
import { placeInstances, type PlacementNode, type PlacementRequest } from './placement.ts';

/**
 * Draining a node: it is cordoned, and everything on it that can leave does, keeping its
 * identity and its data. Sleeping and stopped instances move as they are; running and warm
 * ones of movable pools are put to sleep, moved and woken again on their new node (to the
 * status they had). Pinned pools' instances wait: they never leave their node. An instance
 * that never booted carries nothing and is simply placed elsewhere.
 */
export type DrainAction =
  | {
      kind: 'move';
      key: string;
      target: string;
      /** Put it to sleep on the source before the move (it was running or warm). */
      sleepFirst: boolean;
      /** The status it returns to on the target. */
      restore: DesiredStatus;
    }
  | { kind: 'replace'; key: string }
  | { kind: 'wait'; key: string; reason: string }
  | { kind: 'skip'; key: string };

export interface DrainInput {
  source: string;
  /** The instances on the source node. */
  instances: ReadonlyArray<
    Pick<Instance, 'tenantId' | 'poolId' | 'id' | 'status' | 'desiredStatus'>
  >;
  pools: ReadonlyMap<string, Pick<Pool, 'pinned' | 'critical' | 'vcpus' | 'memMib'>>;
  /** Nodes that take placements (ready, not cordoned), with what they hold. */
  nodes: readonly PlacementNode[];
}

const keyOf = (i: { tenantId: string; poolId: string; id: string }) =>
  `${i.tenantId}/${i.poolId}/${i.id}`;

type DrainInstance = DrainInput['instances'][number];

/** What to do with one instance before a target is chosen. */
function classify(
  i: DrainInstance,
  pool: Pick<Pool, 'pinned'> | undefined,
): Exclude<DrainAction, { kind: 'move' }> | { kind: 'carry'; sleepFirst: boolean } {
  const key = keyOf(i);
  if (i.desiredStatus === 'destroyed' || i.status === 'destroyed') return { kind: 'skip', key };
  if (!pool) return { kind: 'wait', key, reason: 'its pool is gone' };
  if (pool.pinned) return { kind: 'wait', key, reason: 'its pool is pinned to this node' };
  if (i.status === 'created' || i.status === 'ready') return { kind: 'replace', key };
  if (i.status === 'sleeping' || i.status === 'stopped')
    return { kind: 'carry', sleepFirst: false };
  if (i.status === 'running' || i.status === 'warm') return { kind: 'carry', sleepFirst: true };
  return { kind: 'wait', key, reason: `it is ${i.status}; destroy it or start it again first` };
}

/** The status it holds on the target: what it was meant to be, and asleep if it was. */
function restoreOf(i: DrainInstance): DesiredStatus {
  return i.desiredStatus === 'destroyed' ? 'stopped' : i.desiredStatus;
}

/** One action per instance of the source node, in the input's key order. */
export function planDrain(input: DrainInput): DrainAction[] {
  const nodes = input.nodes.filter((n) => n.id !== input.source);
  const requests: PlacementRequest[] = [];
  const pending = new Map<string, { sleepFirst: boolean; restore: DesiredStatus }>();
  const actions = new Map<string, DrainAction>();
  const sorted = [...input.instances].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
  for (const i of sorted) {
    const pool = input.pools.get(`${i.tenantId}/${i.poolId}`);
    const decided = classify(i, pool);
    if (decided.kind !== 'carry') {
      actions.set(keyOf(i), decided);
      continue;
    }
    const restore = restoreOf(i);
    pending.set(keyOf(i), { sleepFirst: decided.sleepFirst, restore });
    requests.push({
      key: keyOf(i),
      pool: `${i.tenantId}/${i.poolId}`,
      vcpus: pool?.vcpus ?? 0,
      memMib: pool?.memMib ?? 0,
      desiredStatus: restore,
      critical: pool?.critical ?? false,
    });
  }
  const placement = placeInstances(nodes, requests);
  for (const p of placement.placed) {
    const carry = pending.get(p.key);
    if (carry) actions.set(p.key, { kind: 'move', key: p.key, target: p.nodeId, ...carry });
  }
  for (const u of placement.unplaced) {
    // With no node beside the source, placement's own words ("no nodes are registered") would
    // deny the node being drained.
    const why = nodes.length === 0 ? `no ready node other than '${input.source}'` : u.reason;
    actions.set(u.key, { kind: 'wait', key: u.key, reason: `no node takes it: ${why}` });
  }
  return sorted.flatMap((i) => {
    const action = actions.get(keyOf(i));
    return action ? [action] : [];
  });
}
