import type { DocumentInstance } from '../../core/desired-doc.ts';
import type { DocumentChanges, DocumentRows, Store } from '../../ports/store.ts';

/**
 * One tenant's rows on a node. Replaced, never changed, when one of them changes: a tenant
 * whose rows are the same object as at the previous computation has the same instances and
 * request ids there (desired/node-document.ts builds its entry again only then).
 */
export interface TenantRows {
  /** By `tenant/pool/instance`, in key order. */
  readonly instances: ReadonlyMap<string, DocumentInstance>;
  /** By `tenant/pool/instance`. */
  readonly requestIds: ReadonlyMap<string, string>;
  /** The pools these instances belong to. */
  readonly poolIds: ReadonlySet<string>;
}

/** A node's document rows, grouped by tenant. */
export interface NodeRows {
  /** By tenant id. */
  readonly tenants: ReadonlyMap<string, TenantRows>;
  /** The tenant ids, sorted (the document's order). */
  readonly order: readonly string[];
}

type Instances = Pick<Store['instances'], 'documentChanges' | 'changeCursor' | 'documentRows'>;

/** A node's rows as its previous document read them, and the change cursor they were read at. */
interface Kept extends NodeRows {
  cursor: number;
}

export interface NodeRowsOptions {
  /** Nodes kept (least recently used dropped first); 1,024 by default. */
  maxNodes?: number;
  /** More changed rows than this since a node's cursor: read it in full; 256 by default. */
  maxChanges?: number;
}

const DEFAULT_MAX_NODES = 1024;
const DEFAULT_MAX_CHANGES = 256;

const keyOf = (i: Pick<DocumentInstance, 'tenantId' | 'poolId' | 'id'>) =>
  `${i.tenantId}/${i.poolId}/${i.id}`;

/** Ids have no `/` (contract/common.ts): a key's tenant is its first part. */
const tenantOfKey = (key: string) => key.slice(0, key.indexOf('/'));

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Each node's document rows, kept per replica and patched with what changed since (the
 * instance change index, db/repos/instance-changes.ts) instead of read again: a toggle of one
 * instance on a 1,000-instance node read 1,000 rows, it now reads the one that changed.
 *
 * A patch applies, for each instance row changed since the kept cursor, its current state:
 * kept if it is on this node, dropped if it is elsewhere or on none (it left: moved,
 * unplaced), and drops each deleted instance (its tombstone). Every change committed after
 * the kept rows were read is stamped at or above their cursor, so nothing is missed; one
 * read twice is applied twice, harmlessly. The store answers "read in full" when the pruning
 * horizon passed the cursor or too many rows changed; no kept rows means a full read too.
 * Rows are kept by tenant, and a patch replaces only the tenants it touches (a toggle: one
 * of 500), so what is built from the others can be reused by identity.
 */
export class NodeRowsCache {
  private readonly nodes = new Map<string, Kept>();
  /** Full reads and patches so far (tests, benches). */
  readonly counts = { full: 0, patched: 0 };

  constructor(
    private readonly store: Pick<Store, 'instances'>,
    private readonly options: NodeRowsOptions = {},
  ) {}

  /**
   * The node's rows now, read through `instances` (by default the store's own: a computation
   * passes those of its reads on one connection, Store.reads, to send this read with others).
   */
  async read(nodeId: string, instances: Instances = this.store.instances): Promise<NodeRows> {
    const kept = this.nodes.get(nodeId);
    if (kept) {
      const limit = this.options.maxChanges ?? DEFAULT_MAX_CHANGES;
      const changes = await instances.documentChanges(kept.cursor, limit);
      if (changes) {
        const next = patched(nodeId, kept, changes);
        this.keep(nodeId, next);
        this.counts.patched += 1;
        return next;
      }
    }
    const cursor = await instances.changeCursor();
    const rows = groupRows(await instances.documentRows(nodeId));
    this.keep(nodeId, { cursor, ...rows });
    this.counts.full += 1;
    return rows;
  }

  /** Drops the node's kept rows (a node lost or gone); whether any were kept. */
  forget(nodeId: string): boolean {
    return this.nodes.delete(nodeId);
  }

  /** How many nodes are kept (tests). */
  get size(): number {
    return this.nodes.size;
  }

  /** A later read (a higher cursor) is not replaced by an earlier one finishing after it. */
  private keep(nodeId: string, next: Kept): void {
    const current = this.nodes.get(nodeId);
    if (current && current.cursor > next.cursor) return;
    this.nodes.delete(nodeId);
    this.nodes.set(nodeId, next);
    const max = this.options.maxNodes ?? DEFAULT_MAX_NODES;
    for (const oldest of this.nodes.keys()) {
      if (this.nodes.size <= max) break;
      this.nodes.delete(oldest);
    }
  }
}

/** A node's rows as the store lists them (key order), grouped by tenant. */
export function groupRows(rows: DocumentRows): NodeRows {
  const instances = new Map<string, Map<string, DocumentInstance>>();
  for (const i of rows.instances) {
    const group = instances.get(i.tenantId);
    if (group) group.set(keyOf(i), i);
    else instances.set(i.tenantId, new Map([[keyOf(i), i]]));
  }
  const requestIds = new Map<string, Map<string, string>>();
  for (const [key, id] of rows.requestIds) {
    const tenantId = tenantOfKey(key);
    if (!instances.get(tenantId)?.has(key)) continue;
    const group = requestIds.get(tenantId);
    if (group) group.set(key, id);
    else requestIds.set(tenantId, new Map([[key, id]]));
  }
  const tenants = new Map<string, TenantRows>();
  for (const [tenantId, group] of instances) {
    tenants.set(tenantId, tenantRows(group, requestIds.get(tenantId) ?? new Map()));
  }
  return { tenants, order: [...tenants.keys()].sort(byText) };
}

function tenantRows(
  instances: Map<string, DocumentInstance>,
  requestIds: Map<string, string>,
): TenantRows {
  return { instances, requestIds, poolIds: new Set([...instances.values()].map((i) => i.poolId)) };
}

/**
 * The kept rows with the changes applied: the tenants they touch get new rows, the others
 * keep theirs (the same objects); new maps, so a concurrent reader's stay whole.
 */
function patched(nodeId: string, kept: Kept, changes: DocumentChanges): Kept {
  if (changes.rows.length === 0 && changes.deleted.length === 0) {
    return { ...kept, cursor: changes.cursor };
  }
  // Copies of the touched tenants' maps, made on first touch.
  const touched = new Map<
    string,
    { instances: Map<string, DocumentInstance>; requestIds: Map<string, string>; arrived: boolean }
  >();
  const open = (tenantId: string) => {
    let group = touched.get(tenantId);
    if (!group) {
      const rows = kept.tenants.get(tenantId);
      group = {
        instances: new Map(rows?.instances),
        requestIds: new Map(rows?.requestIds),
        arrived: false,
      };
      touched.set(tenantId, group);
    }
    return group;
  };
  const drop = (key: string) => {
    const tenantId = tenantOfKey(key);
    // A key this node does not hold changes nothing here.
    if (
      !touched.get(tenantId)?.instances.has(key) &&
      !kept.tenants.get(tenantId)?.instances.has(key)
    )
      return;
    const group = open(tenantId);
    group.instances.delete(key);
    group.requestIds.delete(key);
  };
  for (const key of changes.deleted) drop(key);
  for (const { instance, requestId } of changes.rows) {
    const key = keyOf(instance);
    if (instance.nodeId !== nodeId) {
      drop(key);
      continue;
    }
    const group = open(instance.tenantId);
    if (!group.instances.has(key)) group.arrived = true;
    group.instances.set(key, instance);
    if (requestId === undefined) group.requestIds.delete(key);
    else group.requestIds.set(key, requestId);
  }
  if (touched.size === 0) return { ...kept, cursor: changes.cursor };
  const tenants = new Map(kept.tenants);
  let joinedOrLeft = false;
  for (const [tenantId, group] of touched) {
    if (group.instances.size === 0) {
      if (tenants.delete(tenantId)) joinedOrLeft = true;
      continue;
    }
    // In key order, as a full read lists them (an update keeps its place, an arrival does not).
    const instances = group.arrived
      ? new Map([...group.instances].sort(([a], [b]) => byText(a, b)))
      : group.instances;
    if (!tenants.has(tenantId)) joinedOrLeft = true;
    tenants.set(tenantId, tenantRows(instances, group.requestIds));
  }
  const order = joinedOrLeft ? [...tenants.keys()].sort(byText) : kept.order;
  return { cursor: changes.cursor, tenants, order };
}
