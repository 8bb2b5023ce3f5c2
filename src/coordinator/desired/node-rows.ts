import type { DocumentInstance } from '../../core/desired-doc.ts';
import type { DocumentChanges, DocumentRows, Store } from '../../ports/store.ts';

/** A node's rows as its previous document read them, and the change cursor they were read at. */
interface Kept {
  cursor: number;
  /** By `tenant/pool/instance`. */
  instances: Map<string, DocumentInstance>;
  requestIds: Map<string, string>;
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
 */
export class NodeRowsCache {
  private readonly nodes = new Map<string, Kept>();
  /** Full reads and patches so far (tests, benches). */
  readonly counts = { full: 0, patched: 0 };

  constructor(
    private readonly store: Pick<Store, 'instances'>,
    private readonly options: NodeRowsOptions = {},
  ) {}

  async read(nodeId: string): Promise<DocumentRows> {
    const kept = this.nodes.get(nodeId);
    if (kept) {
      const limit = this.options.maxChanges ?? DEFAULT_MAX_CHANGES;
      const changes = await this.store.instances.documentChanges(kept.cursor, limit);
      if (changes) {
        const next = patched(nodeId, kept, changes);
        this.keep(nodeId, next);
        this.counts.patched += 1;
        return rowsOf(next);
      }
    }
    const cursor = await this.store.instances.changeCursor();
    const rows = await this.store.instances.documentRows(nodeId);
    const instances = new Map(rows.instances.map((i) => [keyOf(i), i]));
    this.keep(nodeId, { cursor, instances, requestIds: new Map(rows.requestIds) });
    this.counts.full += 1;
    return rows;
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

/** The kept rows with the changes applied: new maps, so a concurrent reader's stay whole. */
function patched(nodeId: string, kept: Kept, changes: DocumentChanges): Kept {
  if (changes.rows.length === 0 && changes.deleted.length === 0) {
    return { ...kept, cursor: changes.cursor };
  }
  let instances = new Map(kept.instances);
  const requestIds = new Map(kept.requestIds);
  let arrived = false;
  for (const key of changes.deleted) {
    instances.delete(key);
    requestIds.delete(key);
  }
  for (const { instance, requestId } of changes.rows) {
    const key = keyOf(instance);
    if (instance.nodeId !== nodeId) {
      instances.delete(key);
      requestIds.delete(key);
      continue;
    }
    if (!instances.has(key)) arrived = true;
    instances.set(key, instance);
    if (requestId === undefined) requestIds.delete(key);
    else requestIds.set(key, requestId);
  }
  // In key order, as a full read lists them (an update keeps its place, an arrival does not).
  if (arrived) instances = new Map([...instances].sort(([a], [b]) => (a < b ? -1 : 1)));
  return { cursor: changes.cursor, instances, requestIds };
}

function rowsOf(kept: Kept): DocumentRows {
  return { instances: [...kept.instances.values()], requestIds: kept.requestIds };
}
