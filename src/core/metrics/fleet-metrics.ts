import { committedMemMib } from '../held-memory.ts';
import type { FleetNode, Pool } from '../model.ts';

/** One gauge family as Prometheus shows it: a name in base units, its help and its series. */
export interface MetricFamily {
  name: string;
  help: string;
  labelNames: readonly string[];
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

/** Instances sharing one tenant, pool, node, status and desired status. */
export interface TallyRow {
  tenantId: string;
  poolId: string;
  nodeId: string | null;
  status: string;
  desiredStatus: string;
  count: number;
}

/** Jobs sharing one tenant, pool and state. */
export interface JobTallyRow {
  tenantId: string;
  poolId: string;
  state: string;
  count: number;
}

export interface FleetInput {
  tally: readonly TallyRow[];
  jobs: readonly JobTallyRow[];
  pools: readonly Pool[];
  nodes: readonly FleetNode[];
  now: Date;
}

const MIB = 1024 * 1024;
const nodeStatuses: ReadonlyArray<FleetNode['status']> = ['ready', 'lost', 'cordoned'];
/** Desired statuses that hold a node's vCPUs and RAM (a sleeping instance holds neither). */
const holding = new Set(['running', 'warm']);
/** Unplaced instances are shown with an empty node label, as Prometheus shows a missing one. */
const nodeLabel = (nodeId: string | null) => nodeId ?? '';

function family(
  name: string,
  help: string,
  labelNames: readonly string[],
  entries: Iterable<[Record<string, string>, number]>,
): MetricFamily {
  return {
    name,
    help,
    labelNames,
    samples: [...entries].map(([labels, value]) => ({ labels, value })),
  };
}

/** Sums values under a key made of the labels, keeping the labels of each key. */
function summed(
  rows: Iterable<[Record<string, string>, number]>,
): Array<[Record<string, string>, number]> {
  const out = new Map<string, [Record<string, string>, number]>();
  for (const [labels, value] of rows) {
    const key = JSON.stringify(labels);
    const seen = out.get(key);
    if (seen) seen[1] += value;
    else out.set(key, [labels, value]);
  }
  return [...out.values()];
}

/**
 * The series a tenant's token may read: its own instances and pools only (every one labelled
 * with that tenant), nothing about nodes or other tenants.
 */
export function tenantFamilies(input: FleetInput, tenantId: string): MetricFamily[] {
  return instanceFamilies({
    ...input,
    tally: input.tally.filter((row) => row.tenantId === tenantId),
    jobs: input.jobs.filter((row) => row.tenantId === tenantId),
    pools: input.pools.filter((pool) => pool.tenantId === tenantId),
  });
}

/** Every fleet gauge: nodes, their capacity against allocation and use, instances and pools. */
export function fleetFamilies(input: FleetInput): MetricFamily[] {
  return [...nodeFamilies(input), ...instanceFamilies(input)];
}

function instanceFamilies(input: FleetInput): MetricFamily[] {
  const byPool = summed(
    input.tally.map((r) => [{ tenant: r.tenantId, pool: r.poolId, status: r.status }, r.count]),
  );
  const desired = input.pools.flatMap((pool): Array<[Record<string, string>, number]> =>
    (['running', 'warm', 'sleeping'] as const).map((status) => [
      { tenant: pool.tenantId, pool: pool.id, status },
      pool.counts[status],
    ]),
  );
  return [
    family(
      'mvm_instances',
      'Instances by observed status, tenant, pool and node (node is empty while unplaced); sums to what GET /v1/instances lists',
      ['status', 'tenant', 'pool', 'node'],
      summed(
        input.tally.map((r) => [
          { status: r.status, tenant: r.tenantId, pool: r.poolId, node: nodeLabel(r.nodeId) },
          r.count,
        ]),
      ),
    ),
    family(
      'mvm_pool_desired_instances',
      "A pool's desired count of running, warm and sleeping instances",
      ['tenant', 'pool', 'status'],
      desired,
    ),
    family(
      'mvm_jobs',
      'Jobs by tenant, pool and state (queued is the queue depth; terminal states count what is kept)',
      ['tenant', 'pool', 'state'],
      input.jobs.map((r) => [{ tenant: r.tenantId, pool: r.poolId, state: r.state }, r.count]),
    ),
    family(
      'mvm_pool_instances',
      "A pool's instances by observed status (compare with mvm_pool_desired_instances)",
      ['tenant', 'pool', 'status'],
      byPool,
    ),
  ];
}

function nodeFamilies(input: FleetInput): MetricFamily[] {
  const { nodes, now } = input;
  const pools = new Map(input.pools.map((p) => [`${p.tenantId}/${p.id}`, p]));
  const allocated = new Map<string, { vcpus: number; memMib: number }>();
  for (const row of input.tally) {
    const pool = pools.get(`${row.tenantId}/${row.poolId}`);
    if (row.nodeId === null || !pool || !holding.has(row.desiredStatus)) continue;
    const sum = allocated.get(row.nodeId) ?? { vcpus: 0, memMib: 0 };
    sum.vcpus += pool.vcpus * row.count;
    sum.memMib += pool.memMib * row.count;
    allocated.set(row.nodeId, sum);
  }
  const perNode = (pick: (n: FleetNode) => number | undefined) =>
    nodes.flatMap((n): Array<[Record<string, string>, number]> => {
      const value = pick(n);
      return value === undefined ? [] : [[{ node: n.id }, value]];
    });
  return [
    family(
      'mvm_nodes',
      'Nodes by status',
      ['status'],
      nodeStatuses.map((status) => [{ status }, nodes.filter((n) => n.status === status).length]),
    ),
    family(
      'mvm_node_heartbeat_age_seconds',
      "Seconds since the node's last heartbeat",
      ['node'],
      perNode((n) =>
        n.lastHeartbeat === null
          ? undefined
          : Math.max(0, (now.getTime() - Date.parse(n.lastHeartbeat)) / 1000),
      ),
    ),
    family(
      'mvm_node_capacity_vcpus',
      'vCPUs the node offers',
      ['node'],
      perNode((n) => n.capacity.vcpus),
    ),
    family(
      'mvm_node_capacity_memory_bytes',
      'Memory the node offers to guests',
      ['node'],
      perNode((n) => n.capacity.memMib * MIB),
    ),
    family(
      'mvm_node_allocated_vcpus',
      'vCPUs of the instances placed on the node and desired running or warm',
      ['node'],
      perNode((n) => allocated.get(n.id)?.vcpus ?? 0),
    ),
    family(
      'mvm_node_allocated_memory_bytes',
      'Guest memory of the instances placed on the node and desired running or warm',
      ['node'],
      perNode((n) => (allocated.get(n.id)?.memMib ?? 0) * MIB),
    ),
    // A node holds more than its capacity only through a wake it admitted itself, or a
    // capacity declared smaller since; the scheduler lowers it back, except where critical or
    // pinned instances alone fill it (core/overcommit-relief.ts): this shows what is left.
    family(
      'mvm_node_overcommit_vcpus',
      'vCPUs the instances placed on the node and desired running or warm hold beyond its capacity (0 within it)',
      ['node'],
      perNode((n) => Math.max(0, (allocated.get(n.id)?.vcpus ?? 0) - n.capacity.vcpus)),
    ),
    family(
      'mvm_node_overcommit_memory_bytes',
      "Guest memory those instances hold beyond the node's capacity, as placement counts it (less what its last report says they leave untouched; 0 within it)",
      ['node'],
      perNode(
        (n) =>
          Math.max(
            0,
            committedMemMib(allocated.get(n.id)?.memMib ?? 0, n.usage) - n.capacity.memMib,
          ) * MIB,
      ),
    ),
    family(
      'mvm_node_used_vcpus',
      "vCPUs the node's running and warm VMs hold, as its agent last reported",
      ['node'],
      perNode((n) => n.usage?.vcpus),
    ),
    family(
      'mvm_node_used_memory_bytes',
      "Guest memory the node's running and warm VMs hold, as its agent last reported",
      ['node'],
      perNode((n) => (n.usage ? n.usage.memMib * MIB : undefined)),
    ),
    family(
      'mvm_node_disk_free_bytes',
      "Free disk under the node agent's data directory, as last reported",
      ['node'],
      perNode((n) => (n.usage ? n.usage.diskFreeMib * MIB : undefined)),
    ),
  ];
}
