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
  /** Critical pools' instances are placed before the others, so they get scarce room first. */
  critical?: boolean;
}

export interface PlacementResult {
  placed: Array<{ key: string; nodeId: string }>;
  /** Instances that fit nowhere, with the reason. */
  unplaced: Array<{ key: string; reason: string }>;
}

/** Running and warm instances hold vCPUs and RAM on their node; sleeping and stopped ones none. */
export function holdsResources(status: DesiredStatus): boolean {
  return status === 'running' || status === 'warm';
}

/** Column-wise node state: the inner loop touches typed arrays only (10k × 1k stays fast). */
class NodeTable {
  readonly ids: string[];
  readonly vcpus: Float64Array;
  readonly memMib: Float64Array;
  readonly usedVcpus: Float64Array;
  readonly usedMemMib: Float64Array;
  private readonly poolCounts = new Map<string, Int32Array>();

  constructor(nodes: readonly PlacementNode[]) {
    // Sorted by id, so "lowest index" is the deterministic tie-break.
    const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const n = sorted.length;
    this.ids = sorted.map((node) => node.id);
    this.vcpus = Float64Array.from(sorted, (node) => node.vcpus);
    this.memMib = Float64Array.from(sorted, (node) => node.memMib);
    this.usedVcpus = Float64Array.from(sorted, (node) => node.usedVcpus);
    this.usedMemMib = Float64Array.from(sorted, (node) => node.usedMemMib);
    sorted.forEach((node, i) => {
      for (const [pool, count] of Object.entries(node.poolCounts)) this.counts(pool, n)[i] = count;
    });
  }

  counts(pool: string, n = this.ids.length): Int32Array {
    let counts = this.poolCounts.get(pool);
    if (!counts) {
      counts = new Int32Array(n);
      this.poolCounts.set(pool, counts);
    }
    return counts;
  }

  /** Fewest instances of the same pool (spread), then most free memory, then lowest id. */
  bestFit(request: PlacementRequest): number {
    const counts = this.counts(request.pool);
    const holds = holdsResources(request.desiredStatus);
    let best = -1;
    for (let i = 0; i < this.ids.length; i += 1) {
      const free = this.memMib[i]! - this.usedMemMib[i]!;
      if (holds && (this.usedVcpus[i]! + request.vcpus > this.vcpus[i]! || free < request.memMib))
        continue;
      if (best === -1) {
        best = i;
        continue;
      }
      const byCount = counts[i]! - counts[best]!;
      if (byCount < 0 || (byCount === 0 && free > this.memMib[best]! - this.usedMemMib[best]!))
        best = i;
    }
    return best;
  }

  take(i: number, request: PlacementRequest): void {
    if (holdsResources(request.desiredStatus)) {
      this.usedVcpus[i]! += request.vcpus;
      this.usedMemMib[i]! += request.memMib;
    }
    this.counts(request.pool)[i]! += 1;
  }
}

export function placeInstances(
  nodes: readonly PlacementNode[],
  requests: readonly PlacementRequest[],
): PlacementResult {
  const table = new NodeTable(nodes);
  const result: PlacementResult = { placed: [], unplaced: [] };
  const ordered = [...requests].sort(
    (a, b) => Number(b.critical ?? false) - Number(a.critical ?? false),
  );
  for (const request of ordered) {
    const i = table.bestFit(request);
    if (i === -1) {
      const reason =
        nodes.length === 0
          ? 'no nodes are registered'
          : `no node has ${request.vcpus} vCPU and ${request.memMib} MiB free`;
      result.unplaced.push({ key: request.key, reason });
      continue;
    }
    table.take(i, request);
    result.placed.push({ key: request.key, nodeId: table.ids[i]! });
  }
  return result;
}
