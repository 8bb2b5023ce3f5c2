import type { DesiredStatus } from './model.ts';

/**
 * Placement: which node runs each unplaced instance. Running and warm instances hold vCPUs and
 * RAM; sleeping ones hold only disk, so they fit anywhere with room for their snapshot later.
 * Among nodes with room, prefer the one holding the fewest instances of the same pool (spread),
 * then the most free memory, then the node id (deterministic).
 */
export interface PlacementNode {
  id: string;
  vcpus: number;
  memMib: number;
  /** Already committed on this node. */
  usedVcpus: number;
  usedMemMib: number;
  /** Instances per `tenant/pool` already on this node. */
  poolCounts: Record<string, number>;
}

export interface PlacementRequest {
  key: string;
  pool: string;
  vcpus: number;
  memMib: number;
  desiredStatus: DesiredStatus;
}

export interface PlacementResult {
  placed: Array<{ key: string; nodeId: string }>;
  /** Instances that fit nowhere, with the reason. */
  unplaced: Array<{ key: string; reason: string }>;
}

function holdsResources(status: DesiredStatus): boolean {
  return status === 'running' || status === 'warm';
}

function fits(node: PlacementNode, request: PlacementRequest): boolean {
  if (!holdsResources(request.desiredStatus)) return true;
  return (
    node.usedVcpus + request.vcpus <= node.vcpus && node.usedMemMib + request.memMib <= node.memMib
  );
}

function better(pool: string) {
  return (a: PlacementNode, b: PlacementNode): number =>
    (a.poolCounts[pool] ?? 0) - (b.poolCounts[pool] ?? 0) ||
    b.memMib - b.usedMemMib - (a.memMib - a.usedMemMib) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function placeInstances(
  nodes: readonly PlacementNode[],
  requests: readonly PlacementRequest[],
): PlacementResult {
  const state = nodes.map((n) => ({ ...n, poolCounts: { ...n.poolCounts } }));
  const result: PlacementResult = { placed: [], unplaced: [] };
  for (const request of requests) {
    const candidates = state.filter((n) => fits(n, request)).sort(better(request.pool));
    const node = candidates[0];
    if (!node) {
      const reason =
        state.length === 0
          ? 'no nodes are registered'
          : `no node has ${request.vcpus} vCPU and ${request.memMib} MiB free`;
      result.unplaced.push({ key: request.key, reason });
      continue;
    }
    if (holdsResources(request.desiredStatus)) {
      node.usedVcpus += request.vcpus;
      node.usedMemMib += request.memMib;
    }
    node.poolCounts[request.pool] = (node.poolCounts[request.pool] ?? 0) + 1;
    result.placed.push({ key: request.key, nodeId: node.id });
  }
  return result;
}
