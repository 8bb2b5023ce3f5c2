import { EventEmitter } from 'node:events';
import { WriteActivity } from './write-activity.ts';

/**
 * Which nodes' desired-state documents a committed write may have changed. A document holds
 * the node's own instances with their tenants' networks and pools, and each tenant's VXLAN
 * peers (the other nodes holding the tenant's live instances), so a change is named by nodes,
 * tenants, or the whole fleet.
 */
export interface DocumentChange {
  /** Nodes whose own instances were placed, changed or removed. */
  nodes?: readonly string[];
  /** Tenants whose pools or instances changed: any node holding one of them is concerned. */
  tenants?: readonly string[];
  /** A node's status or underlay address changed: every document's peers may change. */
  fleet?: boolean;
  /**
   * Pools (`tenant/pool`) that got claimable jobs. Not part of any document: it wakes the
   * workers' long-polling claims (services/job-service.ts), through the same numbering.
   */
  jobs?: readonly string[];
}

/** Which claimable jobs a waiting claim is after: any pool, a tenant's, or one pool. */
export interface JobWanted {
  tenantId?: string;
  poolId?: string;
}

export function concernsJobs(change: DocumentChange, wanted: JobWanted): boolean {
  return (
    change.jobs?.some((key) => {
      const [tenantId, poolId] = key.split('/');
      return (
        (wanted.tenantId === undefined || wanted.tenantId === tenantId) &&
        (wanted.poolId === undefined || wanted.poolId === poolId)
      );
    }) === true
  );
}

/** What one node's current document depends on. */
export interface WatchedDocument {
  nodeId: string;
  /** The tenants the document lists. */
  tenants: readonly string[];
}

export function concerns(change: DocumentChange, doc: WatchedDocument): boolean {
  if (change.fleet === true) return true;
  if (change.nodes?.includes(doc.nodeId) === true) return true;
  return change.tenants?.some((t) => doc.tenants.includes(t)) === true;
}

function isEmpty(change: DocumentChange): boolean {
  return (
    change.fleet !== true &&
    !change.nodes?.length &&
    !change.tenants?.length &&
    !change.jobs?.length
  );
}

/**
 * Which changes named a tenant or the fleet, as the notifier stands at each check: what a cache
 * of tenant inputs filled at change count `seq` must check (desired/tenant-inputs.ts). Changes
 * naming only nodes are left out: no such write changes a tenant's record, pools, secrets,
 * configs or the nodes holding its live instances (each of those names the tenant or the fleet).
 */
export interface NamedChanges {
  /** A change after `seq` named the fleet. */
  fleetSince(seq: number): boolean;
  /** A change after `seq` named the tenant or the fleet, or may have (its record was dropped). */
  tenantSince(seq: number, tenantId: string): boolean;
}

/** Changes kept whole, for the jobs' waits and the propagation metric. */
const RECENT = 512;
/** Nodes, and tenants, whose latest change is kept by name (the oldest are dropped first). */
const MAX_NAMED = 65_536;

/**
 * The count of the latest change that named each key. Bounded: the keys named longest ago are
 * dropped first, and a count not after the latest dropped one may have been named since.
 */
class LatestByName {
  private readonly latest = new Map<string, number>();
  /** The latest count of a dropped key. */
  private dropped = 0;

  note(key: string, seq: number): void {
    // Deleted first, so the map's order is the order of the counts.
    this.latest.delete(key);
    this.latest.set(key, seq);
    for (const [oldest, at] of this.latest) {
      if (this.latest.size <= MAX_NAMED) break;
      this.latest.delete(oldest);
      this.dropped = at;
    }
  }

  /** Whether a change after `seq` named `key`, or may have (its entry was dropped). */
  since(seq: number, key: string): boolean {
    return (this.latest.get(key) ?? (seq < this.dropped ? Infinity : 0)) > seq;
  }
}

/**
 * Tells waiting desired-state watchers that a write committed in this process changed their
 * node's document, and only those: a write that changes no document wakes nobody. Numbered
 * rather than bare events: a watcher notes the count before it reads the store, then waits for
 * a concerning change after that count, so a change committed while it was reading is never
 * missed. Other replicas' changes arrive through the watchers' bounded store poll instead.
 *
 * Whether a document was concerned since a count is answered from the latest change that named
 * each node and tenant, not from a window of recent changes: with a window of 512, every watcher
 * whose document was computed more than 512 changes ago was told it might be concerned, and at
 * 20 scales a second the whole fleet's watchers recomputed at once every ~25 s, the changes that
 * did concern a node queued behind them for seconds (fleet-sim's p99 of scale to agent).
 */
export class ChangeNotifier {
  private count = 0;
  private readonly recent: Array<{ seq: number; change: DocumentChange; atMs: number }> = [];
  private readonly nodesNamed = new LatestByName();
  private readonly tenantsNamed = new LatestByName();
  /** The count of the latest change that named the fleet. */
  private fleetAt = 0;
  private readonly events = new EventEmitter();
  /** Writes in progress in this process: watchers of hot nodes wait for a pause in them. */
  readonly writes: WriteActivity;

  /** `monotonicMs` stamps each change, for the propagation metric (desired-service.ts). */
  constructor(private readonly monotonicMs: () => number = () => performance.now()) {
    this.writes = new WriteActivity(monotonicMs);
    // One listener per waiting watcher: a node count, not a leak.
    this.events.setMaxListeners(0);
  }

  /** How many changes were announced so far. */
  get current(): number {
    return this.count;
  }

  notify(change: DocumentChange): void {
    if (isEmpty(change)) return;
    this.count += 1;
    const seq = this.count;
    if (change.fleet === true) this.fleetAt = seq;
    for (const nodeId of change.nodes ?? []) this.nodesNamed.note(nodeId, seq);
    for (const tenantId of change.tenants ?? []) this.tenantsNamed.note(tenantId, seq);
    this.recent.push({ seq, change, atMs: this.monotonicMs() });
    if (this.recent.length > RECENT) this.recent.shift();
    this.events.emit('change', change);
  }

  /**
   * Resolves once a change announced after `since` concerns `doc`, after `ms`, or when
   * `signal` aborts.
   */
  waitForChange(
    since: number,
    doc: WatchedDocument,
    ms: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const concerned = () => this.concernedSince(since, doc);
    return this.waitFor(concerned, (change) => concerns(change, doc), ms, signal);
  }

  /** Resolves once jobs `wanted` became claimable after `since`, after `ms`, or on abort. */
  waitForJobs(since: number, wanted: JobWanted, ms: number, signal?: AbortSignal): Promise<void> {
    const matches = (change: DocumentChange) => concernsJobs(change, wanted);
    return this.waitFor(() => this.changedSince(since, matches), matches, ms, signal);
  }

  /**
   * Calls `listener` with the pools (`tenant/pool`) of every job change announced from now on
   * (jobs/queue-wake-watch.ts); returns the call that stops it.
   */
  onJobs(listener: (pools: readonly string[]) => void): () => void {
    const onChange = (change: DocumentChange) => {
      if (change.jobs?.length) listener(change.jobs);
    };
    this.events.on('change', onChange);
    return () => this.events.off('change', onChange);
  }

  /**
   * Whether a change announced after `since` concerns `doc`: its node, one of its tenants or
   * the fleet named after it. Exact however long ago `since` was (O(the document's tenants)).
   */
  concernedSince(since: number, doc: WatchedDocument): boolean {
    if (since >= this.count) return false;
    if (this.fleetAt > since || this.nodesNamed.since(since, doc.nodeId)) return true;
    return doc.tenants.some((tenantId) => this.tenantsNamed.since(since, tenantId));
  }

  /** The tenants and fleet named after a count, for checks against many counts at once. */
  named(): NamedChanges {
    const fleetSince = (seq: number) => this.fleetAt > seq;
    return {
      fleetSince,
      tenantSince: (seq, tenantId) => fleetSince(seq) || this.tenantsNamed.since(seq, tenantId),
    };
  }

  /** When the first change after `since` that concerns `doc` was announced, if still kept. */
  firstConcerningAt(since: number, doc: WatchedDocument): number | undefined {
    return this.recent.find((entry) => entry.seq > since && concerns(entry.change, doc))?.atMs;
  }

  /** Resolves at once if `pending`, else on the first announced change that `matches`. */
  private waitFor(
    pending: () => boolean,
    matches: (change: DocumentChange) => boolean,
    ms: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (signal?.aborted || pending()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off('change', onChange);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const onChange = (change: DocumentChange) => {
        if (matches(change)) done();
      };
      const timer = setTimeout(done, ms);
      this.events.on('change', onChange);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private changedSince(since: number, matches: (change: DocumentChange) => boolean): boolean {
    if (since >= this.count) return false;
    const oldest = this.recent[0]?.seq ?? this.count + 1;
    // Older changes were forgotten: one of them may have concerned it.
    if (oldest > since + 1) return true;
    return this.recent.some((entry) => entry.seq > since && matches(entry.change));
  }
}
