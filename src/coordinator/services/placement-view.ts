import { committedMemMib } from '../../core/held-memory.ts';
import type { FleetNode, Instance, Pool } from '../../core/model.ts';
import type { PlacementNode } from '../../core/placement.ts';
import type { NodeAllocation, NodeLoad, Repos } from '../../ports/store.ts';

export type Sizing = Pick<Pool, 'vcpus' | 'memMib' | 'critical' | 'pinned' | 'minWarmSecs'>;

const unsized: Sizing = { vcpus: 0, memMib: 0, critical: false, pinned: false, minWarmSecs: 0 };

/** What a scheduling pass starts from, read in O(nodes + pools + unplaced), not O(fleet). */
export interface PlacementView {
  /** Nodes that take placements. */
  nodes: FleetNode[];
  /** Those nodes with what they already hold, from the store's per-node allocations. */
  placementNodes: PlacementNode[];
  /** What every node holds by size, as the store summed it (`nodes.loads()`). */
  loads: NodeLoad[];
  /** Live instances placed nowhere. */
  pending: Instance[];
  pools: Map<string, Pool>;
  sizing(i: Pick<Instance, 'tenantId' | 'poolId'>): Sizing;
}

/** Which pools' per-node instance counts a view carries (only placement's spread reads them). */
export type CountedPools = 'pending' | 'all' | 'none';

/**
 * Each ready node's capacity, held resources (`loads`, summed in the store) and per-pool
 * counts (`allocations`: only the pools a caller places). Memory counts what the node's
 * running and warm instances hold, by its last heartbeat (core/held-memory.ts); vCPUs count
 * by size.
 */
export function placementNodesOf(
  nodes: readonly FleetNode[],
  loads: readonly NodeLoad[],
  allocations: readonly NodeAllocation[],
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
  for (const load of loads) {
    const node = byId.get(load.nodeId);
    if (!node) continue;
    node.usedVcpus = load.vcpus;
    node.usedMemMib = load.memMib;
  }
  for (const a of allocations) {
    const node = byId.get(a.nodeId);
    if (!node) continue;
    const pool = `${a.tenantId}/${a.poolId}`;
    node.poolCounts[pool] = (node.poolCounts[pool] ?? 0) + a.instances;
  }
  for (const n of nodes) {
    const node = byId.get(n.id);
    if (node) node.usedMemMib = committedMemMib(node.usedMemMib, n.usage);
  }
  return [...byId.values()];
}

/**
 * Reads O(nodes + pools + unplaced) rows: what nodes hold is summed in the store, and pool
 * counts are read only for the pools being placed (`counted`, default those of the unplaced
 * instances), not one row per node, tenant and pool of the fleet.
 */
export async function loadPlacementView(
  repos: Repos,
  counted: CountedPools = 'pending',
): Promise<PlacementView> {
  const nodes = (await repos.nodes.list()).filter((n) => n.status === 'ready');
  const pools = new Map((await repos.pools.list()).map((p) => [`${p.tenantId}/${p.id}`, p]));
  const sizing = (i: { tenantId: string; poolId: string }) =>
    pools.get(`${i.tenantId}/${i.poolId}`) ?? unsized;
  const pending = await repos.instances.listUnplaced();
  const loads = await repos.nodes.loads();
  const placementNodes = placementNodesOf(
    nodes,
    loads,
    await countedAllocations(repos, counted, pending),
  );
  return { nodes, placementNodes, loads, pending, pools, sizing };
}

async function countedAllocations(
  repos: Repos,
  counted: CountedPools,
  pending: readonly Instance[],
): Promise<NodeAllocation[]> {
  if (counted === 'all') return repos.nodes.allocations();
  if (counted === 'none' || pending.length === 0) return [];
  const wanted = new Set(pending.map((i) => `${i.tenantId}/${i.poolId}`));
  const tenantIds = [...new Set(pending.map((i) => i.tenantId))];
  const rows = await repos.nodes.allocations({ tenantIds });
  return rows.filter((a) => wanted.has(`${a.tenantId}/${a.poolId}`));
}
