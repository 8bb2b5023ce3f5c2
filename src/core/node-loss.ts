import type { FleetNode, Instance, InstanceStatus, Pool } from './model.ts';

/**
 * Node loss, decided from values. A `ready` node whose last heartbeat is older than the
 * timeout is lost. What happens to what it ran:
 *
 * - An instance keeps its identity (id, IP, MAC) and is re-placed: no node, observed status
 *   `created`, its desired status unchanged. Whatever lived only on the lost node (RAM of a
 *   running or warm VM, the snapshot of a sleeping one, the data disk) is given up, so every
 *   moved instance cold-boots on its new node; a sleeping one boots there and is put to sleep
 *   again. The reason names the node and the state left behind.
 * - An instance of a pinned pool does not move: it stays on its node as `failed`, waiting
 *   for the node to come back.
 * - An instance already meant to be destroyed is forgotten (its record deleted).
 *
 * The scheduler then places the moved instances, critical pools first. A lost node that
 * heartbeats again is ready; its document no longer names the moved instances, so its agent
 * tears their old copies down. A cordoned node (an operator's decision, or a drain) that falls
 * silent is lost like any other: what it ran must run somewhere. It comes back cordoned.
 */
export const DEFAULT_NODE_LOST_AFTER_MS = 30_000;

/**
 * True when the node should be declared lost at `now`. `watchingSince` is when this
 * coordinator began watching: after its own outage every agent deserves a full timeout to
 * get a heartbeat through before its node is given up.
 */
export function heartbeatOverdue(
  node: Pick<FleetNode, 'status' | 'lastHeartbeat' | 'createdAt'>,
  now: Date,
  lostAfterMs: number,
  watchingSince: Date,
): boolean {
  if (node.status !== 'ready' && node.status !== 'cordoned') return false;
  const heard = Date.parse(node.lastHeartbeat ?? node.createdAt);
  const since = Math.max(Number.isNaN(heard) ? 0 : heard, watchingSince.getTime());
  return now.getTime() - since > lostAfterMs;
}

/** The status a lost node returns to when it heartbeats again: cordoned stays cordoned. */
export function recoveredStatus(node: Pick<FleetNode, 'lostFrom'>): 'ready' | 'cordoned' {
  return node.lostFrom === 'cordoned' ? 'cordoned' : 'ready';
}

/** Why a move under way is given up when one of its nodes is lost. */
export function moveLostReason(nodeId: string, side: 'source' | 'target'): string {
  return side === 'source'
    ? `its source node ${nodeId} was lost; the instance is placed again by the loss policy`
    : `its target node ${nodeId} was lost; the instance stays on its source`;
}

export type LossAction =
  | { kind: 'move'; instance: Instance; reason: string }
  | { kind: 'wait'; instance: Instance; reason: string }
  | { kind: 'forget'; instance: Instance };

type PoolFlags = Pick<Pool, 'tenantId' | 'id' | 'pinned' | 'critical'>;

function leftBehind(status: InstanceStatus): string {
  if (status === 'running' || status === 'warm') return 'RAM and data disk';
  if (status === 'sleeping') return 'snapshot and data disk';
  return 'data disk';
}

export function movedReason(nodeId: string, status: InstanceStatus): string {
  return `rescheduled from lost node ${nodeId}; its ${status} state (${leftBehind(status)}) was on that node`;
}

export function pinnedReason(nodeId: string): string {
  return `node ${nodeId} lost; pinned pool waits for its node`;
}

/** What to do with each instance placed on the lost node; critical pools' moves first. */
export function planNodeLoss(
  nodeId: string,
  instances: readonly Instance[],
  pools: readonly PoolFlags[],
): LossAction[] {
  const flags = new Map(pools.map((p) => [`${p.tenantId}/${p.id}`, p]));
  const actions: LossAction[] = [];
  for (const instance of instances.filter((i) => i.nodeId === nodeId)) {
    const pool = flags.get(`${instance.tenantId}/${instance.poolId}`);
    if (instance.desiredStatus === 'destroyed') actions.push({ kind: 'forget', instance });
    else if (pool?.pinned === true)
      actions.push({ kind: 'wait', instance, reason: pinnedReason(nodeId) });
    else actions.push({ kind: 'move', instance, reason: movedReason(nodeId, instance.status) });
  }
  const rank = (a: LossAction) =>
    a.kind === 'move' && flags.get(`${a.instance.tenantId}/${a.instance.poolId}`)?.critical ? 0 : 1;
  return actions.sort((a, b) => rank(a) - rank(b));
}
