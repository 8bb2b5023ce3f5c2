import { createHash } from 'node:crypto';
import {
  buildNodeDocument,
  canonicalJson,
  documentContent,
  type PoolWorkload,
} from '../../core/desired-doc.ts';
import { NotFoundError, UnavailableError } from '../../core/errors.ts';
import type { Pool } from '../../core/model.ts';
import { holdMoving } from '../../core/move-hold.ts';
import { roleHasDrive } from '../../core/roles.ts';
import { effectiveSecrets } from '../../core/secrets.ts';
import { watchedScopes } from '../../core/document-marks.ts';
import { tenantPeers } from '../../core/vxlan-peers.ts';
import type { NodeDesired, SignedEnvelope, DesiredWatchResponse } from '../../contract/desired.ts';
import type { SigningKeyView } from '../../contract/desired.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Store } from '../../ports/store.ts';
import type { ChangeNotifier } from '../desired/change-notifier.ts';
import { SharedMarks } from '../desired/shared-marks.ts';
import type { SigningKey } from '../desired/signing-key.ts';
import { secretsDigest } from '../secrets/secret-digest.ts';

export interface DesiredServiceDeps {
  store: Store;
  clock: Clock;
  signingKey: SigningKey;
  notifier: ChangeNotifier;
  /** How often a waiting watcher re-reads the store, for changes made by other replicas. */
  pollMs?: number;
  /** A waiting watcher's document is recomputed at least this often; REFRESH_MS by default. */
  refreshMs?: number;
  /** Elapsed time for long-poll deadlines; wall-clock time may be fixed in tests. */
  monotonicMs?: () => number;
  /** A watch answer delivered a document this many seconds after the change it carries. */
  onPropagated?: (seconds: number) => void;
}

export interface IssuedDocument {
  generation: number;
  envelope: SignedEnvelope;
  /** The tenants the document lists: a change to one of them concerns this node. */
  tenants: string[];
}

const DEFAULT_POLL_MS = 500;
/**
 * A cached answer is recomputed at least this often. Every write moves its document marks in
 * its own transaction (services/mark-documents.ts), so no change can commit without them and
 * other replicas' watchers need no backstop; this is a safety net only, for a write path that
 * would forget its marks (1,000 waiting watchers: one computation every 0.6 s, not 33 a second).
 */
const REFRESH_MS = 10 * 60_000;

/** What a watcher last computed for a node, and the marks it was computed under. */
interface Computed {
  seen: number;
  mark: number;
  generation: number;
  tenants: string[];
  atMs: number;
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

/**
 * Computes, numbers and signs each node's desired-state document, and lets agents wait for
 * the next one. The generation is a compare-and-set on the content digest in the store, so
 * every replica issues the same number for the same content.
 */
export class DesiredService {
  private readonly closing = new AbortController();
  private readonly computed = new Map<string, Computed>();
  /** Per node, the change count when its watcher last got a new document. */
  private readonly delivered = new Map<string, number>();

  /** Read at most every half poll, shared by every watcher of this replica. */
  private readonly marks: SharedMarks;

  constructor(private readonly deps: DesiredServiceDeps) {
    const pollMs = deps.pollMs ?? DEFAULT_POLL_MS;
    this.marks = new SharedMarks(deps.store.generations, pollMs / 2, this.elapsed());
  }

  signingKey(): SigningKeyView {
    const { keyId, publicKeyPem } = this.deps.signingKey;
    return { keyId, algorithm: 'ed25519', publicKeyPem };
  }

  /** The node's current document, issuing a new generation if its content changed. */
  async issue(nodeId: string): Promise<IssuedDocument> {
    const doc = await this.compute(nodeId);
    const digest = createHash('sha256').update(documentContent(doc)).digest('hex');
    const at = this.deps.clock.now().toISOString();
    // Most polls find nothing new: a read spares the store a locking upsert.
    const stored = await this.deps.store.generations.get(nodeId);
    const issued =
      stored?.digest === digest
        ? stored
        : await this.deps.store.generations.bump(nodeId, digest, at);
    // Stamped with the signing time, not the generation's: an agent refuses copies older
    // than its age bound (a replay), and a generation may stand unchanged for days.
    const payload = canonicalJson({ ...doc, generation: issued.generation, issuedAt: at });
    const { keyId } = this.deps.signingKey;
    return {
      generation: issued.generation,
      envelope: { payload, signature: this.deps.signingKey.sign(payload), keyId },
      tenants: doc.tenants.map((t) => t.id),
    };
  }

  /**
   * Long-poll: the document as soon as its generation passes `after`, else, after `waitMs`,
   * `{unchanged, generation}`. Wakes at once on local commits that concern this node's
   * document (and on no others), and re-reads the store every pollMs for commits made
   * through other replicas.
   */
  async watch(nodeId: string, after: number, waitMs: number): Promise<DesiredWatchResponse> {
    const elapsed = this.elapsed();
    const deadline = elapsed() + waitMs;
    const pollMs = this.deps.pollMs ?? DEFAULT_POLL_MS;
    const started = this.deps.notifier.current;
    for (;;) {
      this.refuseWhenClosing();
      const seen = this.deps.notifier.current;
      const issued = await this.current(nodeId, after, seen);
      if (issued.generation > after && issued.envelope) {
        this.observeDelivery(nodeId, started, seen, issued.tenants);
        return issued.envelope;
      }
      const remaining = deadline - elapsed();
      this.refuseWhenClosing();
      if (remaining <= 0) {
        return { unchanged: true, generation: issued.generation };
      }
      await this.deps.notifier.waitForChange(
        seen,
        { nodeId, tenants: issued.tenants },
        Math.min(remaining, pollMs),
        this.closing.signal,
      );
    }
  }

  /**
   * The node's generation, recomputing its document only when its inputs may have changed: a
   * local change that concerns it, a store mark of one of its scopes that moved (another
   * replica's change, moved in its transaction), or the refresh period gone by. A waiting watcher's poll is one indexed read.
   */
  private async current(
    nodeId: string,
    after: number,
    seen: number,
  ): Promise<{ generation: number; tenants: string[]; envelope?: SignedEnvelope }> {
    const { notifier } = this.deps;
    const cached = this.computed.get(nodeId);
    const now = this.elapsed()();
    const scopes = watchedScopes(nodeId, cached?.tenants ?? []);
    const mark = await this.marks.sum(scopes);
    if (
      cached &&
      cached.generation <= after &&
      cached.mark === mark &&
      now - cached.atMs < (this.deps.refreshMs ?? REFRESH_MS) &&
      !notifier.concernedSince(cached.seen, { nodeId, tenants: cached.tenants })
    ) {
      return cached;
    }
    const issued = await this.issue(nodeId);
    // Marks read for other scopes than the new document's say nothing: recompute next time.
    const known = cached !== undefined && sameSet(cached.tenants, issued.tenants);
    this.computed.set(nodeId, {
      seen,
      mark: known ? mark : Number.NaN,
      generation: issued.generation,
      tenants: issued.tenants,
      atMs: now,
    });
    return issued;
  }

  /**
   * Times the first change this delivery carries: the first concerning change since the
   * node's previous delivery, or since this watch began for the node's first.
   */
  private observeDelivery(nodeId: string, started: number, seen: number, tenants: string[]) {
    const since = this.delivered.get(nodeId) ?? started;
    this.delivered.set(nodeId, seen);
    if (!this.deps.onPropagated) return;
    const at = this.deps.notifier.firstConcerningAt(since, { nodeId, tenants });
    if (at !== undefined) this.deps.onPropagated(Math.max(0, this.elapsed()() - at) / 1000);
  }

  private elapsed(): () => number {
    return this.deps.monotonicMs ?? (() => performance.now());
  }

  /** Answers every waiting watcher now, so a stopping server is not held open by them. */
  close(): void {
    this.closing.abort();
  }

  /** A 503 makes agents back off and reconnect, where an answer would make them poll again. */
  private refuseWhenClosing(): void {
    if (this.closing.signal.aborted) {
      throw new UnavailableError('the coordinator is shutting down; retry shortly');
    }
  }

  private async compute(nodeId: string): Promise<NodeDesired> {
    const { store } = this.deps;
    if (!(await store.nodes.get(nodeId))) {
      throw new NotFoundError('node', nodeId, "register it with 'PUT /v1/nodes/:node' first");
    }
    // Instances first: a pool or tenant destroyed meanwhile takes its instances with it in
    // the same commit, so nothing read later can refer to rows that are not there.
    // An instance leaving this node is held asleep here until its move ends (core/move-hold.ts).
    const instances = holdMoving(
      await store.instances.list({ nodeId }),
      await store.instanceMoves.activeOn(nodeId),
    );
    const tenantIds = [...new Set(instances.map((i) => i.tenantId))];
    const tenants = [];
    const pools = [];
    const workloads = new Map<string, PoolWorkload>();
    for (const tenantId of tenantIds) {
      const tenant = await store.tenants.get(tenantId);
      if (tenant) tenants.push(tenant);
      const tenantPools = await store.pools.list({ tenantId });
      pools.push(...tenantPools);
      for (const [key, workload] of await this.workloads(tenantId, tenantPools)) {
        workloads.set(key, workload);
      }
    }
    // Where its tenants' VXLAN must reach: the nodes holding their live instances, from the
    // store's per-node allocations (one row per node, tenant and pool) rather than every
    // instance of those tenants. Only those nodes and this one can change the peers.
    const held = await store.nodes.allocations({ tenantIds });
    const holding = held.map((a) => ({
      tenantId: a.tenantId,
      nodeId: a.nodeId,
      desiredStatus: 'running' as const,
    }));
    const ids = [...new Set([nodeId, ...held.map((a) => a.nodeId)])];
    const peers = tenantPeers(nodeId, await store.nodes.list({ ids }), holding);
    const stamp = { generation: 0, issuedAt: '' };
    const requestIds = await store.instances.lastRequestIds(nodeId);
    return buildNodeDocument(
      nodeId,
      tenants,
      pools,
      instances,
      stamp,
      peers,
      workloads,
      requestIds,
    );
  }

  /** Each pool's secrets digest (names and versions only) and config, by `tenant/pool`. */
  private async workloads(tenantId: string, pools: readonly Pool[]) {
    const secrets = await this.deps.store.secrets.list(tenantId);
    const configs = await this.deps.store.poolConfigs.list(tenantId);
    return pools.map((pool): [string, PoolWorkload] => {
      const config = configs.find((c) => c.poolId === pool.id);
      const withSecrets = roleHasDrive(pool.role, 'secrets');
      return [
        `${tenantId}/${pool.id}`,
        {
          secretsDigest: withSecrets ? secretsDigest(effectiveSecrets(secrets, pool.id)) : null,
          config: config ? { version: config.version, files: config.files } : null,
        },
      ];
    });
  }
}
