import type { PoolWorkload } from '../../core/desired-doc.ts';
import { FLEET_SCOPE, tenantScope } from '../../core/document-marks.ts';
import type { Instance, Pool } from '../../core/model.ts';
import { tenantPeersByNodes, type PeerNode } from '../../core/vxlan-peers.ts';
import type { GenerationRepo, Store, TenantRecord } from '../../ports/store.ts';
import type { ChangeNotifier, NamedChanges } from './change-notifier.ts';
import { dropOldest, sameItems } from './kept-maps.ts';
import { KeptMarks, picked } from './kept-marks.ts';
import { PeerRows, type Stamp } from './peer-rows.ts';
import { readTenants, type TenantInputs } from './tenant-input-reads.ts';

export type { TenantInputs } from './tenant-input-reads.ts';

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
  /** Each tenant's kept inputs, the objects the fields above were assembled from. */
  byTenant: ReadonlyMap<string, TenantInputs>;
}

/** The tenants of a node's document, each with the pools its instances there belong to. */
export type TenantsHere = ReadonlyMap<string, { readonly poolIds: ReadonlySet<string> }>;

/** A node's assembled inputs, and the kept values they were assembled from. */
interface Assembled {
  tenants: ReadonlyArray<TenantInputs | undefined>;
  peerRows: ReadonlyMap<string, PeerNode>;
  inputs: DocumentInputs;
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
  private readonly peerRows: PeerRows;
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
    this.peerRows = new PeerRows(store, options.maxAgeMs);
  }

  /** Drops the node's assembled inputs (a node lost or gone); whether they were kept. */
  forget(nodeId: string): boolean {
    return this.assembled.delete(nodeId);
  }

  /**
   * The document marks of the fleet and of these tenants, as the store holds them now. Read
   * after the node's instances and before `read` uses them (it reads them itself if not
   * given): the service reads them beside the node's moves, one round trip less.
   */
  async marksOf(tenantIds: Iterable<string>): Promise<ReadonlyMap<string, number>> {
    return this.marks.of(scopesOf(tenantIds));
  }

  /**
   * Every document mark as the store holds them now, read through `generations` (a
   * computation's reads on one connection, Store.reads, sent with the node's rows): the map is
   * kept and moves with later reads, so the caller takes its tenants' (`marksIn`) before it
   * reads any of their data.
   */
  readMarks(generations: Pick<GenerationRepo, 'allMarks' | 'marksSince'>) {
    return this.marks.read(generations);
  }

  /** The fleet's and these tenants' marks of `all` (readMarks'), as `marksOf` answers them. */
  marksIn(all: ReadonlyMap<string, number>, tenantIds: Iterable<string>): Map<string, number> {
    return picked(all, scopesOf(tenantIds));
  }

  /**
   * The inputs of `nodeId`'s document, given its tenants and their pools there (from its
   * instances, read before this call) and, if read already, the marks `marksOf` gave for them.
   */
  async read(
    nodeId: string,
    here: TenantsHere,
    seq: number,
    marksRead?: ReadonlyMap<string, number>,
  ): Promise<DocumentInputs> {
    const tenantIds = [...here.keys()];
    const marks = marksRead ?? (await this.marksOf(tenantIds));
    const stamp: Stamp = { seq, fleet: marks.get(FLEET_SCOPE) ?? 0, atMs: this.options.nowMs() };
    const named = this.notifier.named();
    const found = new Map<string, TenantInputs>();
    const stale: string[] = [];
    for (const [id, { poolIds }] of here) {
      const entry = this.tenants.get(id);
      const mark = marks.get(tenantScope(id)) ?? 0;
      if (entry && this.stands(entry, stamp, named, id, mark, poolIds)) {
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
    const peerRows = this.peerRows.current(stamp, named);
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
    const out: Omit<DocumentInputs, 'nodes' | 'held' | 'peers' | 'byTenant'> = {
      tenants: [],
      pools: [],
      workloads: new Map(),
    };
    const held: Array<{ tenantId: string; nodeIds: readonly string[] }> = [];
    const ids = new Set([nodeId]);
    const byTenant = new Map<string, TenantInputs>();
    for (const inputs of tenants) {
      if (!inputs) continue;
      byTenant.set(inputs.tenant.id, inputs);
      out.tenants.push(inputs.tenant);
      out.pools.push(...inputs.pools);
      for (const [key, workload] of inputs.workloads) out.workloads.set(key, workload);
      if (inputs.nodeIds.length > 0)
        held.push({ tenantId: inputs.tenant.id, nodeIds: inputs.nodeIds });
      for (const node of inputs.nodeIds) ids.add(node);
    }
    const nodes = await this.peerRows.of([...ids], peerRows);
    const peers = tenantPeersByNodes(nodeId, nodes, held);
    return { ...out, byTenant, held, nodes, peers };
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
    poolsHere: ReadonlySet<string>,
  ): boolean {
    if (entry.mark !== mark || entry.fleet !== now.fleet) return false;
    if (now.atMs - entry.atMs >= this.options.maxAgeMs) return false;
    if (named.tenantSince(entry.seq, tenantId)) return false;
    for (const id of poolsHere) if (!entry.inputs.poolIds.has(id)) return false;
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
}

/** Each tenant of these instances with the pools they belong to (`read`'s `here`). */
export function tenantsOf(
  instances: ReadonlyArray<Pick<Instance, 'tenantId' | 'poolId'>>,
): Map<string, { poolIds: Set<string> }> {
  const out = new Map<string, { poolIds: Set<string> }>();
  for (const i of instances) {
    const tenant = out.get(i.tenantId);
    if (tenant) tenant.poolIds.add(i.poolId);
    else out.set(i.tenantId, { poolIds: new Set([i.poolId]) });
  }
  return out;
}

/** The scopes whose marks a document of these tenants depends on. */
function scopesOf(tenantIds: Iterable<string>): string[] {
  return [FLEET_SCOPE, ...[...tenantIds].map(tenantScope)];
}
