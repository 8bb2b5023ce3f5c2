import type { PoolWorkload } from '../../core/desired-doc.ts';
import { FLEET_SCOPE, tenantScope } from '../../core/document-marks.ts';
import type { Instance, Pool } from '../../core/model.ts';
import { roleHasDrive } from '../../core/roles.ts';
import { effectiveSecrets } from '../../core/secrets.ts';
import { tenantPeersByNodes, type PeerNode } from '../../core/vxlan-peers.ts';
import type { PoolConfigRecord, SealedSecret, Store, TenantRecord } from '../../ports/store.ts';
import { secretsDigest } from '../secrets/secret-digest.ts';
import type { ChangeNotifier, NamedChanges } from './change-notifier.ts';
import { KeptMarks } from './kept-marks.ts';

/** What a node's document needs of one tenant, whatever node lists it. */
export interface TenantInputs {
  tenant: TenantRecord;
  pools: Pool[];
  /** Each pool's secrets digest and config, by `tenant/pool`. */
  workloads: Map<string, PoolWorkload>;
  /** The nodes holding its live instances (its VXLAN peers). */
  nodeIds: readonly string[];
  /** Its pools' ids, to see an instance of a pool created since. */
  poolIds: ReadonlySet<string>;
}

/** The inputs of one node's document besides its own instances. */
export interface DocumentInputs {
  tenants: TenantRecord[];
  pools: Pool[];
  workloads: Map<string, PoolWorkload>;
  held: ReadonlyArray<{ tenantId: string; nodeIds: readonly string[] }>;
  /** This node and every node holding one of its tenants' live instances. */
  nodes: PeerNode[];
  /** Each tenant's VXLAN flood list from this node (core/vxlan-peers.ts). */
  peers: ReadonlyMap<string, readonly string[]>;
}

/** A node's assembled inputs, and the kept values they were assembled from. */
interface Assembled {
  tenants: ReadonlyArray<TenantInputs | undefined>;
  peerRows: ReadonlyMap<string, PeerNode>;
  inputs: DocumentInputs;
}

/** Under what the entry was read: valid while neither moved. */
interface Stamp {
  /** The notifier's count noted before the marks and the data were read. */
  seq: number;
  /** The fleet's document mark read before the data. */
  fleet: number;
  atMs: number;
}

interface TenantEntry extends Stamp {
  inputs: TenantInputs;
  /** The tenant's document mark read before the data. */
  mark: number;
}

export interface TenantInputsOptions {
  /** Tenants kept (least recently used dropped first); 4,096 by default. */
  maxTenants?: number;
  /** Nodes whose assembled inputs are kept (least recently used dropped first); 1,024. */
  maxNodes?: number;
  /** An entry is read again after this long whatever the marks say (the refresh bound). */
  maxAgeMs: number;
  nowMs: () => number;
}

const DEFAULT_MAX_TENANTS = 4096;
const DEFAULT_MAX_NODES = 1024;

/**
 * Per-tenant document inputs (record, pools, workloads, nodes), kept per replica so that a
 * recomputation reads only what changed: at 100 nodes × 500 tenants, a toggle of one instance
 * re-read 500 tenants' inputs, and their nodes aggregated from 50,000 allocation rows.
 *
 * An entry stands while the tenant's and the fleet's document marks are what they were when it
 * was filled, and no local change named the tenant or the fleet since. Every write that
 * changes a tenant's inputs moves its mark (or the fleet's: a node lost unplaces instances) in
 * its own transaction and then names it locally, so: other replicas' writes show in the marks,
 * read fresh before any data (a write after that read moves them past the stored value), and
 * this replica's too. The local announcements are checked as well: they also cover a local
 * write that would announce its change but forget its mark. A pool created after the entry
 * (it moves no mark: it holds nothing yet) shows as an instance of an unknown pool.
 */
export class TenantInputsCache {
  private readonly tenants = new Map<string, TenantEntry>();
  private peerNodes: (Stamp & { rows: Map<string, PeerNode> }) | undefined;
  /** Per node, its previous inputs: reused whole when made of the same kept values. */
  private readonly assembled = new Map<string, Assembled>();
  /** Every mark, read now: those moved since the last read only (kept-marks.ts). */
  private readonly marks: KeptMarks;

  constructor(
    private readonly store: Store,
    private readonly notifier: ChangeNotifier,
    private readonly options: TenantInputsOptions,
  ) {
    this.marks = new KeptMarks(store.generations);
  }

  /**
   * The document marks of the fleet and of these instances' tenants, as the store holds them
   * now. Read after the instances and before `read` uses them (it reads them itself if not
   * given): the service reads them beside the node's moves, one round trip less.
   */
  async marksOf(
    instances: ReadonlyArray<Pick<Instance, 'tenantId'>>,
  ): Promise<ReadonlyMap<string, number>> {
    const tenantIds = new Set(instances.map((i) => i.tenantId));
    return this.marks.of([FLEET_SCOPE, ...[...tenantIds].map(tenantScope)]);
  }

  /**
   * The inputs of `nodeId`'s document, given its instances (read before this call) and, if
   * read already, the marks `marksOf` gave for them.
   */
  async read(
    nodeId: string,
    instances: ReadonlyArray<Pick<Instance, 'tenantId' | 'poolId'>>,
    seq: number,
    marksRead?: ReadonlyMap<string, number>,
  ): Promise<DocumentInputs> {
    const poolsHere = poolsByTenant(instances);
    const tenantIds = [...poolsHere.keys()];
    const marks = marksRead ?? (await this.marksOf(instances));
    const stamp: Stamp = { seq, fleet: marks.get(FLEET_SCOPE) ?? 0, atMs: this.options.nowMs() };
    const named = this.notifier.named();
    const found = new Map<string, TenantInputs>();
    const stale: string[] = [];
    for (const id of tenantIds) {
      const entry = this.tenants.get(id);
      const mark = marks.get(tenantScope(id)) ?? 0;
      if (entry && this.stands(entry, stamp, named, id, mark, poolsHere.get(id))) {
        found.set(id, entry.inputs);
      } else stale.push(id);
    }
    for (const inputs of await readTenants(this.store, stale)) {
      found.set(inputs.tenant.id, inputs);
      const mark = marks.get(tenantScope(inputs.tenant.id)) ?? 0;
      this.keep({ ...stamp, inputs, mark });
    }
    return this.assemble(nodeId, tenantIds, found, stamp, named);
  }

  /**
   * The inputs of every tenant, in one shape for the document (O(tenants + their nodes)). The
   * node's previous shape when it was made of the same kept tenant inputs and peer rows (a
   * toggle moves neither): O(tenants), not the 500 × 100 node ids of a spread fleet.
   */
  private async assemble(
    nodeId: string,
    tenantIds: readonly string[],
    found: ReadonlyMap<string, TenantInputs>,
    stamp: Stamp,
    named: NamedChanges,
  ): Promise<DocumentInputs> {
    const tenants = tenantIds.map((id) => found.get(id));
    // Used: the least recently used are dropped first.
    for (const id of tenantIds) this.touch(id);
    const peerRows = this.peerRows(stamp, named);
    const kept = this.assembled.get(nodeId);
    const same =
      kept !== undefined && kept.peerRows === peerRows && sameItems(kept.tenants, tenants);
    const inputs = same ? kept.inputs : await this.shaped(nodeId, tenants, peerRows);
    this.assembled.delete(nodeId);
    this.assembled.set(nodeId, { tenants, peerRows, inputs });
    dropOldest(this.assembled, this.options.maxNodes ?? DEFAULT_MAX_NODES);
    return inputs;
  }

  private async shaped(
    nodeId: string,
    tenants: ReadonlyArray<TenantInputs | undefined>,
    peerRows: Map<string, PeerNode>,
  ): Promise<DocumentInputs> {
    const out: Omit<DocumentInputs, 'nodes' | 'held' | 'peers'> = {
      tenants: [],
      pools: [],
      workloads: new Map(),
    };
    const held: Array<{ tenantId: string; nodeIds: readonly string[] }> = [];
    const ids = new Set([nodeId]);
    for (const inputs of tenants) {
      if (!inputs) continue;
      out.tenants.push(inputs.tenant);
      out.pools.push(...inputs.pools);
      for (const [key, workload] of inputs.workloads) out.workloads.set(key, workload);
      if (inputs.nodeIds.length > 0)
        held.push({ tenantId: inputs.tenant.id, nodeIds: inputs.nodeIds });
      for (const node of inputs.nodeIds) ids.add(node);
    }
    const nodes = await this.nodes([...ids], peerRows);
    return { ...out, held, nodes, peers: tenantPeersByNodes(nodeId, nodes, held) };
  }

  /** How many tenants are kept (tests). */
  get size(): number {
    return this.tenants.size;
  }

  private stands(
    entry: TenantEntry,
    now: Stamp,
    named: NamedChanges,
    tenantId: string,
    mark: number,
    poolsHere: ReadonlySet<string> | undefined,
  ): boolean {
    if (entry.mark !== mark || entry.fleet !== now.fleet) return false;
    if (now.atMs - entry.atMs >= this.options.maxAgeMs) return false;
    if (named.tenantSince(entry.seq, tenantId)) return false;
    for (const id of poolsHere ?? []) if (!entry.inputs.poolIds.has(id)) return false;
    return true;
  }

  /** A later fill (a higher count) is not replaced by an earlier one finishing after it. */
  private keep(entry: TenantEntry): void {
    const id = entry.inputs.tenant.id;
    const current = this.tenants.get(id);
    if (current && current.seq > entry.seq) return;
    this.tenants.delete(id);
    this.tenants.set(id, entry);
    dropOldest(this.tenants, this.options.maxTenants ?? DEFAULT_MAX_TENANTS);
  }

  private touch(id: string): void {
    const entry = this.tenants.get(id);
    if (!entry) return;
    this.tenants.delete(id);
    this.tenants.set(id, entry);
  }

  /**
   * Node rows for the peers: their status and underlay address move only with the fleet's
   * mark (join, loss, recovery, a new address). Kept rows that may be stale are replaced by
   * an empty map (a new object: assemblies made from the old one are not reused).
   */
  private peerRows(now: Stamp, named: NamedChanges): Map<string, PeerNode> {
    const kept = this.peerNodes;
    const valid =
      kept !== undefined &&
      kept.fleet === now.fleet &&
      now.atMs - kept.atMs < this.options.maxAgeMs &&
      !named.fleetSince(kept.seq);
    if (valid) return kept.rows;
    this.peerNodes = { ...now, rows: new Map() };
    return this.peerNodes.rows;
  }

  /** These nodes' rows: a node not kept yet is read on its own. */
  private async nodes(ids: string[], rows: Map<string, PeerNode>): Promise<PeerNode[]> {
    const missing = ids.filter((id) => !rows.has(id));
    if (missing.length > 0) {
      for (const n of await this.store.nodes.list({ ids: missing })) {
        rows.set(n.id, { id: n.id, status: n.status, underlayIp: n.underlayIp });
      }
    }
    return ids.flatMap((id) => {
      const row = rows.get(id);
      return row ? [row] : [];
    });
  }
}

/** Each tenant's pools that the node's instances belong to. */
function poolsByTenant(
  instances: ReadonlyArray<Pick<Instance, 'tenantId' | 'poolId'>>,
): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const i of instances) {
    const pools = out.get(i.tenantId);
    if (pools) pools.add(i.poolId);
    else out.set(i.tenantId, new Set([i.poolId]));
  }
  return out;
}

/** One read per kind for all these tenants, not one per tenant: a node may hold hundreds. */
async function readTenants(store: Store, ids: readonly string[]): Promise<TenantInputs[]> {
  if (ids.length === 0) return [];
  const tenants = await store.tenants.list({ ids });
  const pools = groupBy(await store.pools.list({ tenantIds: ids }), (p) => p.tenantId);
  const secrets = groupBy(await store.secrets.ofTenants(ids), (s) => s.tenantId);
  const configs = groupBy(await store.poolConfigs.ofTenants(ids), (c) => c.tenantId);
  // Where their VXLAN must reach: the nodes holding their live instances, aggregated in the
  // store from its per-node allocations rather than read instance by instance.
  const held = new Map((await store.nodes.tenantNodes(ids)).map((t) => [t.tenantId, t.nodeIds]));
  return tenants.map((tenant) => {
    const own = pools.get(tenant.id) ?? [];
    return {
      tenant,
      pools: own,
      workloads: workloadsOf(own, secrets.get(tenant.id) ?? [], configs.get(tenant.id) ?? []),
      nodeIds: held.get(tenant.id) ?? [],
      poolIds: new Set(own.map((p) => p.id)),
    };
  });
}

/** Each pool's secrets digest (names and versions only) and config, by `tenant/pool`. */
function workloadsOf(
  pools: readonly Pool[],
  secrets: readonly SealedSecret[],
  configs: readonly PoolConfigRecord[],
): Map<string, PoolWorkload> {
  const configOf = new Map(configs.map((c) => [c.poolId, c]));
  return new Map(
    pools.map((pool): [string, PoolWorkload] => {
      const config = configOf.get(pool.id);
      const withSecrets = roleHasDrive(pool.role, 'secrets');
      return [
        `${pool.tenantId}/${pool.id}`,
        {
          secretsDigest: withSecrets ? secretsDigest(effectiveSecrets(secrets, pool.id)) : null,
          config: config ? { version: config.version, files: config.files } : null,
        },
      ];
    }),
  );
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** Least recently used first: drops the first keys past `max`. */
function dropOldest(map: Map<string, unknown>, max: number): void {
  for (const oldest of map.keys()) {
    if (map.size <= max) break;
    map.delete(oldest);
  }
}
