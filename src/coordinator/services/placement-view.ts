import { committedMemMib } from '../../core/held-memory.ts';
import type { FleetNode, Instance, Pool } from '../../core/model.ts';
import type { PlacementNode } from '../../core/placement.ts';
import type { NodeAllocation, Repos } from '../../ports/store.ts';

export type Sizing = Pick<Pool, 'vcpus' | 'memMib' | 'critical' | 'pinned' | 'minWarmSecs'>;

const unsized: Sizing = { vcpus: 0, memMib: 0, critical: false, pinned: false, minWarmSecs: 0 };

/** What a scheduling pass starts from, read in O(nodes + pools + unplaced), not O(fleet). */
export interface PlacementView {
  /** Nodes that take placements. */
  nodes: FleetNode[];
  /** Those nodes with what they already hold, from the store's per-node allocations. */
  placementNodes: PlacementNode[];
  /** Live instances placed nowhere. */
  pending: Instance[];
  pools: Map<string, Pool>;
  sizing(i: Pick<Instance, 'tenantId' | 'poolId'>): Sizing;
}

/**
 * Each ready node's capacity, held resources and per-pool counts, from its allocation rows.
 * Memory counts what the node's running and warm instances hold, by its last heartbeat
 * (core/held-memory.ts); vCPUs count by size.
 */
export function placementNodesOf(
  nodes: readonly FleetNode[],
  allocations: readonly NodeAllocation[],
  sizing: (i: { tenantId: string; poolId: string }) => Sizing,
): PlacementNode[] {
  const byId = new Map<string, PlacementNode>(
    nodes.map((n) => [
      n.id,
      {
        id: n.id,
        vcpus: n.capacity.vcpus,
        memMib: n.capacity.memMib,
        usedVcpus: 0,
        usedMemMib: 0,
        poolCounts: {},
      },
    ]),
  );
  for (const a of allocations) {
    const node = byId.get(a.nodeId);
    if (!node) continue;
    const pool = `${a.tenantId}/${a.poolId}`;
    node.poolCounts[pool] = (node.poolCounts[pool] ?? 0) + a.instances;
    node.usedVcpus += a.holding * sizing(a).vcpus;
    node.usedMemMib += a.holding * sizing(a).memMib;
  }
  for (const n of nodes) {
    const node = byId.get(n.id);
    if (node) node.usedMemMib = committedMemMib(node.usedMemMib, n.usage);
  }
  return [...byId.values()];
}

export async function loadPlacementView(repos: Repos): Promise<PlacementView> {
  const nodes = (await repos.nodes.list()).filter((n) => n.status === 'ready');
  const pools = new Map((await repos.pools.list()).map((p) => [`${p.tenantId}/${p.id}`, p]));
  const sizing = (i: { tenantId: string; poolId: string }) =>
    pools.get(`${i.tenantId}/${i.poolId}`) ?? unsized;
  const placementNodes = placementNodesOf(nodes, await repos.nodes.allocations(), sizing);
  const pending = await repos.instances.listUnplaced();
  return { nodes, placementNodes, pending, pools, sizing };
}
