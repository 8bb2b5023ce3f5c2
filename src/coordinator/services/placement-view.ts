import { committedMemMib } from '../../core/held-memory.ts';
import type { FleetNode, Instance, Pool } from '../../core/model.ts';
import type { PlacementNode } from '../../core/placement.ts';
import type { NodeAllocation, NodeLoad, Repos } from '../../ports/store.ts';

export type Sizing = Pick<Pool, 'vcpus' | 'memMib' | 'critical' | 'pinned' | 'minWarmSecs'>;

const unsized: Sizing = { vcpus: 0, memMib: 0, critical: false, pinned: false, minWarmSecs: 0 };

/**
 * What a scheduling pass starts from, read in O(nodes + pools + unplaced), not O(fleet); a
 * pass reads only the pools of the tenants it places (and adds those of the instances its
 * pressure pass considers, `withPoolsOf`).
 */
export interface PlacementView {
  /** Nodes that take placements. */
  nodes: FleetNode[];
  /**
   * Cordoned nodes: they take no placement but keep what they run, and what they run may be
   * over their capacity as much as a ready node's (overcommit-lowering.ts).
   */
  cordoned: FleetNode[];
  /** Those nodes with what they already hold, from the store's per-node allocations. */
  placementNodes: PlacementNode[];
  /** What every node holds by size, as the store summed it (`nodes.loads()`). */
  loads: NodeLoad[];
  /** Live instances placed nowhere. */
  pending: Instance[];
  /** The pools read: every pool, or (`pools: 'placed'`) those of the tenants in `pooled`. */
  pools: Map<string, Pool>;
  /** The tenants whose pools `pools` holds; undefined when it holds every pool. */
  pooled?: Set<string>;
  sizing(i: Pick<Instance, 'tenantId' | 'poolId'>): Sizing;
}

/** Which pools a view reads: all of them, or only those of the unplaced instances' tenants. */
export type ReadPools = 'all' | 'placed';

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
 * instances), not one row per node, tenant and pool of the fleet. With `pools: 'placed'` only
 * the unplaced instances' tenants' pools are read (a scheduling pass: 500 rows at 100k
 * otherwise, for the sizes of a few); the rest on demand (`withPoolsOf`).
 */
export async function loadPlacementView(
  repos: Repos,
  counted: CountedPools = 'pending',
  options: { pools?: ReadPools } = {},
): Promise<PlacementView> {
  const all = await repos.nodes.list();
  const nodes = all.filter((n) => n.status === 'ready');
  const cordoned = all.filter((n) => n.status === 'cordoned');
  const pending = await repos.instances.listUnplaced();
  const pooled = options.pools === 'placed' ? new Set(pending.map((i) => i.tenantId)) : undefined;
  const read = await repos.pools.list(pooled ? { tenantIds: [...pooled] } : {});
  const pools = new Map(read.map((p) => [`${p.tenantId}/${p.id}`, p]));
  const sizing = (i: { tenantId: string; poolId: string }) =>
    pools.get(`${i.tenantId}/${i.poolId}`) ?? unsized;
  const loads = await repos.nodes.loads();
  const placementNodes = placementNodesOf(
    nodes,
    loads,
    await countedAllocations(repos, counted, pending),
  );
  return {
    nodes,
    cordoned,
    placementNodes,
    loads,
    pending,
    pools,
    ...(pooled ? { pooled } : {}),
    sizing,
  };
}

/**
 * Adds to `view.pools` the pools of the tenants of `instances` it has not read yet (one read
 * for them all; nothing when the view read every pool), so `view.sizing` sizes them.
 */
export async function withPoolsOf(
  repos: Repos,
  view: PlacementView,
  instances: ReadonlyArray<Pick<Instance, 'tenantId'>>,
): Promise<void> {
  const { pooled } = view;
  if (!pooled) return;
  const missing = [...new Set(instances.map((i) => i.tenantId))].filter((t) => !pooled.has(t));
  if (missing.length === 0) return;
  for (const pool of await repos.pools.list({ tenantIds: missing })) {
    view.pools.set(`${pool.tenantId}/${pool.id}`, pool);
  }
  for (const tenantId of missing) pooled.add(tenantId);
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
