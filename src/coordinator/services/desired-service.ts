import { canonicalJson, documentContent, stampedPayload } from '../../core/desired-doc.ts';
import { NotFoundError, UnavailableError } from '../../core/errors.ts';
import { watchedSum } from '../../core/document-marks.ts';
import type {
  DesiredTenant,
  NodeDesired,
  SignedEnvelope,
  DesiredWatchResponse,
} from '../../contract/desired.ts';
import type { SigningKeyView } from '../../contract/desired.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Store } from '../../ports/store.ts';
import type { ChangeNotifier } from '../desired/change-notifier.ts';
import { ComputeGate } from '../desired/compute-gate.ts';
import { groupRows, NodeRowsCache } from '../desired/node-rows.ts';
import { nodeDocument } from '../desired/node-document.ts';
import { stepTurns } from '../desired/loop-turn.ts';
import { RecomputePacer } from '../desired/recompute-pacer.ts';
import { SharedMarks } from '../desired/shared-marks.ts';
import { documentDigest, tenantDigest } from '../desired/document-digest.ts';
import { manifestText } from '../../core/desired-manifest.ts';
import { TenantEntries } from '../desired/tenant-entries.ts';
import type { SigningKey } from '../desired/signing-key.ts';
import { TenantInputsCache } from '../desired/tenant-inputs.ts';
import {
  deltaAgainst,
  manifestAgainst,
  manifestChanges,
  type HeldDigests,
  type HeldTexts,
  type SignedManifest,
  type SignedTexts,
} from '../desired/watch-delta.ts';

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
  /** How many documents are computed at once (desired/compute-gate.ts); default 4. */
  maxComputing?: number;
  /** Tenants whose document inputs are kept (desired/tenant-inputs.ts); default 4,096. */
  maxCachedTenants?: number;
  /** Nodes whose document rows are kept and patched (desired/node-rows.ts); default 1,024. */
  maxCachedNodes?: number;
  /**
   * Patch each document's rows from the previous one's (desired/node-rows.ts); true by
   * default. False reads every row each time (benches compare).
   */
  patchDocuments?: boolean;
  /**
   * A hot node's recomputations, at most one per this (or per `paceCostFactor` times its last
   * computation, if longer) while writes go on (desired/recompute-pacer.ts); default 1, 0 off.
   */
  paceMs?: number;
  /**
   * A pause in the writes this long lets a hot node's recomputation run; default 3. A write
   * that ran alone lets it run at its end (desired/write-activity.ts).
   */
  paceGraceMs?: number;
  /** A hot node's pace is at least this many times its last computation's duration; default 8. */
  paceCostFactor?: number;
  /**
   * A computation lets the event loop take what arrived between its steps, and waits for the
   * writes in progress there, this long in all at most (desired/loop-turn.ts); default 10.
   * Undefined turns: 0 still takes the loop's turns, -1 neither (benches compare).
   */
  stepYieldMs?: number;
}

export interface IssuedDocument {
  generation: number;
  /** Built (serialized and signed) on first read. */
  envelope: SignedEnvelope;
  /** The envelope and its payload cut into head and tenants' texts (built with it). */
  signed: SignedTexts;
  /** Signed as a manifest of its tenants' digests (core/desired-manifest.ts), on first read. */
  manifest: SignedManifest;
  /** The tenants the document lists: a change to one of them concerns this node. */
  tenants: string[];
}

const DEFAULT_POLL_MS = 500;
/**
 * No floor of its own: a hot node's pace is its computations' cost times the factor, so a small
 * document is held back by a few milliseconds at most and a large one spends at most 1/8 of
 * the time of writes that never pause. A 100 ms floor cost agents acting on a single change at
 * 1k and 10k instances ~8-15 ms (fleet-scale, acting p50 26.7 against 18.6 ms at 1k).
 */
const DEFAULT_PACE_MS = 1;
const DEFAULT_PACE_GRACE_MS = 3;
/** A host starved of CPU makes computations slower: the pace grows with them. */
const DEFAULT_PACE_COST_FACTOR = 8;
/**
 * About one scale's own time at 100k: a computation waits at most this long in all for writes
 * beside it (a burst's documents come that much later at most, a lone change's not at all).
 */
const DEFAULT_STEP_YIELD_MS = 10;
/** However slow computations get, a change waits at most this long for its document. */
const MAX_PACE_MS = 1000;
/** Under the store pool's 10 connections, so requests other than watches always get one. */
const DEFAULT_MAX_COMPUTING = 4;
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

/** What a watcher's computation of a node answers: the document, and the changes it read. */
interface Current {
  issued: IssuedDocument | Computed;
  seen: number;
}

/**
 * A computation of a node's document in progress, which other watches of the node on this
 * replica join rather than compute it again (two agents' long-polls, an agent and the
 * dashboard). `seen` and `mark` are what it reads under: final once `pacing` is false.
 */
interface FlightState {
  /** The watcher's record it started from: marks of other scopes say nothing. */
  from: Computed | undefined;
  /** Due only to the refresh bound. */
  background: boolean;
  /** Still waiting for its turn (desired/recompute-pacer.ts): it reads what comes meanwhile. */
  pacing: boolean;
  seen: number;
  mark: number;
  /**
   * Every mark, read before the computation reads the store: `mark` is their sum over the
   * scopes of `from`, and the new document's own scopes are summed in them too.
   */
  marks: ReadonlyMap<string, number>;
}

interface Flight {
  state: FlightState;
  result: Promise<Current>;
}

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
  /** Per node, the digest this replica last saw stored: new content skips the read. */
  private readonly digests = new Map<string, string>();
  /** Per node, the computation in progress that its other watches join (single flight). */
  private readonly flights = new Map<string, Flight>();
  /**
   * Per node, the document last sent to a watcher that takes deltas: the base of its next
   * answer (one per node; its texts are mostly the kept tenant entries' own strings).
   */
  private readonly held = new Map<string, HeldTexts>();
  /** Per node, the manifest last sent to a watcher that takes manifests: its next one's base. */
  private readonly heldDigests = new Map<string, HeldDigests>();

  /** Read at most every half poll, shared by every watcher of this replica. */
  private readonly marks: SharedMarks;
  private readonly gate: ComputeGate;
  private readonly inputs: TenantInputsCache;
  private readonly rows: NodeRowsCache | undefined;
  private readonly entries: TenantEntries | undefined;
  private readonly pacer: RecomputePacer;

  constructor(private readonly deps: DesiredServiceDeps) {
    const pollMs = deps.pollMs ?? DEFAULT_POLL_MS;
    this.pacer = new RecomputePacer(deps.notifier.writes, {
      paceMs: deps.paceMs ?? DEFAULT_PACE_MS,
      graceMs: deps.paceGraceMs ?? DEFAULT_PACE_GRACE_MS,
      costFactor: deps.paceCostFactor ?? DEFAULT_PACE_COST_FACTOR,
      maxPaceMs: MAX_PACE_MS,
    });
    this.marks = new SharedMarks(deps.store.generations, pollMs / 2, this.elapsed());
    this.gate = new ComputeGate(deps.maxComputing ?? DEFAULT_MAX_COMPUTING);
    this.inputs = new TenantInputsCache(deps.store, deps.notifier, {
      maxAgeMs: deps.refreshMs ?? REFRESH_MS,
      nowMs: this.elapsed(),
      ...(deps.maxCachedTenants !== undefined ? { maxTenants: deps.maxCachedTenants } : {}),
    });
    const patch = deps.patchDocuments ?? true;
    this.rows = patch
      ? new NodeRowsCache(
          deps.store,
          deps.maxCachedNodes !== undefined ? { maxNodes: deps.maxCachedNodes } : {},
        )
      : undefined;
    // Built again only for tenants whose kept inputs or rows changed (desired/tenant-entries.ts).
    this.entries = patch ? new TenantEntries(deps.maxCachedNodes) : undefined;
  }

  /** The most documents computed at once so far (never above maxComputing). */
  get peakComputing(): number {
    return this.gate.peakActive;
  }

  signingKey(): SigningKeyView {
    const { keyId, publicKeyPem } = this.deps.signingKey;
    return { keyId, algorithm: 'ed25519', publicKeyPem };
  }

  /** The node's current document, issuing a new generation if its content changed. */
  async issue(nodeId: string, options: { background?: boolean } = {}): Promise<IssuedDocument> {
    const { doc, kept } = await this.gate.run(
      () => this.compute(nodeId, this.stepTurns()),
      options,
    );
    // Made of the tenants' digests, kept with their entries: a toggle hashes one tenant's text.
    const digest = documentDigest(doc, kept?.digest);
    const at = this.deps.clock.now().toISOString();
    const issued = await this.numbered(nodeId, digest, at);
    // Stamped with the issuing time, not the generation's: an agent refuses copies older
    // than its age bound (a replay), and a generation may stand unchanged for days.
    // The kept tenants' texts joined, only for a document that is read: the payload is
    // stampedPayload(documentContent(doc)) (core/desired-doc.ts), cut where a delta is.
    let parts: { head: string; texts: string[] } | undefined;
    const cut = () =>
      (parts ??= {
        head: stampedPayload(documentContent({ ...doc, tenants: [] }), {
          generation: issued.generation,
          issuedAt: at,
        }).slice(0, -2),
        texts: doc.tenants.map(kept?.text ?? canonicalJson),
      });
    const { signingKey } = this.deps;
    const sign = (): SignedTexts => {
      const { head, texts } = cut();
      const payload = `${head}${texts.join(',')}]}`;
      const envelope = { payload, signature: signingKey.sign(payload), keyId: signingKey.keyId };
      return { envelope, head, texts };
    };
    // The digests are those the document's digest was made of (kept with the entries): the
    // signature covers ~33 KiB of them and the head, the payload is never joined.
    const signManifest = (): SignedManifest => {
      const { head, texts } = cut();
      const digests = doc.tenants.map(kept?.digest ?? tenantDigest);
      const signature = signingKey.sign(manifestText(head, digests));
      const envelope = { manifest: { head, digests }, tenants: texts, signature };
      return { envelope: { ...envelope, keyId: signingKey.keyId } };
    };
    // Signed only when read: most recomputations (every watcher woken by a
    // change of a tenant it lists, every refresh) find their generation unchanged and
    // deliver nothing, and the signature was theirs to waste. The payload is the content
    // with the stamp in front, not a second serialization of the document.
    let signed: SignedTexts | undefined;
    let manifest: SignedManifest | undefined;
    const signedOnce = () => (signed ??= sign());
    return {
      generation: issued.generation,
      get signed() {
        return signedOnce();
      },
      get envelope() {
        return signedOnce().envelope;
      },
      get manifest() {
        return (manifest ??= signManifest());
      },
      tenants: doc.tenants.map((t) => t.id),
    };
  }

  /**
   * The generation of the content `digest`. Most polls find nothing new: a read spares the
   * store a locking upsert. Content that differs from what this replica last saw stored for
   * the node is a change: its compare-and-set upsert is the one statement, without the read
   * first (the upsert still answers the stored generation when another replica got there
   * first with the same digest).
   */
  private async numbered(nodeId: string, digest: string, at: string) {
    const { generations } = this.deps.store;
    const known = this.digests.get(nodeId);
    const stored =
      known === digest || known === undefined ? await generations.get(nodeId) : undefined;
    const issued = stored?.digest === digest ? stored : await generations.bump(nodeId, digest, at);
    this.digests.set(nodeId, issued.digest);
    return issued;
  }

  /**
   * Long-poll: the document as soon as its generation passes `after`, else, after `waitMs`,
   * `{unchanged, generation}`. Wakes at once on local commits that concern this node's
   * document (and on no others), and re-reads the store every pollMs for commits made
   * through other replicas.
   */
  async watch(
    nodeId: string,
    after: number,
    waitMs: number,
    options: { delta?: boolean; manifest?: boolean; changes?: boolean } = {},
  ): Promise<DesiredWatchResponse> {
    const elapsed = this.elapsed();
    const deadline = elapsed() + waitMs;
    const pollMs = this.deps.pollMs ?? DEFAULT_POLL_MS;
    const started = this.deps.notifier.current;
    for (;;) {
      this.refuseWhenClosing();
      // What the document read: changes up to `seen` (later than asked, after a paced wait).
      const { issued, seen } = await this.current(nodeId, after, this.deps.notifier.current);
      // `in`, not the getter: only the delivered form is signed.
      if (issued.generation > after && 'signed' in issued) {
        this.observeDelivery(nodeId, started, seen, issued.tenants);
        // Signed, then serialized by the route: each a step of its own.
        const turn = this.stepTurns();
        await turn();
        const answer =
          options.manifest === true
            ? this.answerManifest(nodeId, after, issued, options.changes === true)
            : this.answer(nodeId, after, issued.signed, issued, options.delta === true);
        await turn();
        return answer;
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
   * The document for a watcher that holds `after`: for one that takes deltas, against the
   * document this replica last sent the node's delta-taking watcher when that is `after`
   * (desired/watch-delta.ts), else whole. The sent document becomes the next one's base.
   */
  private answer(
    nodeId: string,
    after: number,
    signed: SignedTexts,
    issued: { generation: number; tenants: string[] },
    delta: boolean,
  ): DesiredWatchResponse {
    if (!delta) return signed.envelope;
    const base = this.held.get(nodeId);
    this.held.set(nodeId, {
      generation: issued.generation,
      ids: issued.tenants,
      texts: signed.texts,
    });
    const answer =
      base?.generation === after ? deltaAgainst(base, signed, issued.tenants) : undefined;
    return answer ?? signed.envelope;
  }

  /**
   * The manifest for a watcher that holds `after`, without the texts it holds when this replica
   * last sent the node's manifest-taking watcher `after` (desired/watch-delta.ts). The sent
   * manifest becomes the next one's base. A watcher that takes `changes` gets only the
   * manifest's changes against that base.
   */
  private answerManifest(nodeId: string, after: number, issued: IssuedDocument, changes: boolean) {
    const { manifest } = issued;
    const base = this.heldDigests.get(nodeId);
    const { digests } = manifest.envelope.manifest;
    this.heldDigests.set(nodeId, { generation: issued.generation, digests });
    if (changes && base?.generation === after) return manifestChanges(base, manifest);
    return manifestAgainst(base, after, manifest);
  }

  /**
   * The node's generation, recomputing its document only when its inputs may have changed: a
   * local change that concerns it, a store mark of one of its scopes that moved (another
   * replica's change, moved in its transaction), or the refresh period gone by. A waiting watcher's poll is one indexed read.
   * A computation of the node already in progress that reads every change this one would
   * is joined, not repeated (single flight).
   */
  private async current(nodeId: string, after: number, seenBefore: number): Promise<Current> {
    const { notifier } = this.deps;
    const cached = this.computed.get(nodeId);
    const now = this.elapsed()();
    const tenants = cached?.tenants ?? [];
    const marks = await this.marks.snapshot();
    const mark = watchedSum(marks, nodeId, tenants);
    const unchanged =
      cached !== undefined &&
      cached.generation <= after &&
      cached.mark === mark &&
      !notifier.concernedSince(cached.seen, { nodeId, tenants: cached.tenants });
    const refreshMs = this.deps.refreshMs ?? REFRESH_MS;
    if (cached !== undefined && unchanged && now - cached.atMs < refreshMs) {
      return { issued: cached, seen: seenBefore };
    }
    const joined = this.flights.get(nodeId);
    if (joined !== undefined && this.joinable(joined.state, cached, unchanged, mark)) {
      const { issued } = await joined.result;
      return { issued, seen: joined.state.seen };
    }
    const state = {
      from: cached,
      background: unchanged,
      pacing: true,
      seen: seenBefore,
      mark,
      marks,
    };
    const flight = { state, result: this.computeFlight(nodeId, state, tenants, now) };
    this.flights.set(nodeId, flight);
    try {
      return await flight.result;
    } finally {
      if (this.flights.get(nodeId) === flight) this.flights.delete(nodeId);
    }
  }

  /**
   * Whether a watcher that found its node's document in need of a computation may take
   * `flight`'s instead: started from the same record, reading every local change announced
   * so far and marks no older than the watcher's (or still waiting for its turn, so it reads
   * them after this), and not a mere refresh when the watcher has a change to carry.
   */
  private joinable(
    flight: FlightState,
    cached: Computed | undefined,
    unchanged: boolean,
    mark: number,
  ): boolean {
    if (flight.from !== cached || (flight.background && !unchanged)) return false;
    return flight.pacing || (flight.seen >= this.deps.notifier.current && flight.mark >= mark);
  }

  private async computeFlight(
    nodeId: string,
    flight: FlightState,
    tenants: readonly string[],
    now: number,
  ): Promise<Current> {
    const { notifier } = this.deps;
    const unchanged = flight.background;
    // A hot node's change waits for a pause in the writes (desired/recompute-pacer.ts): what
    // came meanwhile is read by this computation, so it is noted as seen.
    const turn = unchanged
      ? { waited: false, done: this.pacer.started(nodeId) }
      : await this.pacer.turn(nodeId, this.closing.signal);
    if (turn.waited) {
      flight.seen = notifier.current;
      // Changes announced from here on are not read: a watch that knows of one computes again.
      flight.pacing = false;
      flight.marks = await this.marks.snapshot();
      flight.mark = watchedSum(flight.marks, nodeId, tenants);
    }
    flight.pacing = false;
    const { seen, marks } = flight;
    // Due only to the refresh bound: it yields to watchers whose documents did change.
    const issued = await this.issue(nodeId, { background: unchanged }).finally(turn.done);
    // The new document's own scopes, summed in the marks read before the store was: a
    // document that gained or lost a tenant is not computed again just for that (it was, when
    // only the old scopes' sum was at hand).
    this.computed.set(nodeId, {
      seen,
      mark: watchedSum(marks, nodeId, issued.tenants),
      generation: issued.generation,
      tenants: issued.tenants,
      atMs: now,
    });
    return { issued, seen };
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

  /** One computation's pauses between its steps (desired/loop-turn.ts). */
  private stepTurns(): () => Promise<void> {
    const budgetMs = this.deps.stepYieldMs ?? DEFAULT_STEP_YIELD_MS;
    if (budgetMs < 0) return () => Promise.resolve();
    return stepTurns(this.deps.notifier.writes, budgetMs, this.closing.signal);
  }

  private elapsed(): () => number {
    return this.deps.monotonicMs ?? (() => performance.now());
  }

  /**
   * Drops what this replica keeps for a node that was lost or is gone (NodeHealthService:
   * the replica that declares the loss at once, the others at their next sweep); a watch of
   * it, if any, computes afresh. A computation in progress still keeps its result, which the
   * next sweep drops. Answers how many of the per-node maps held it (tests).
   */
  forget(nodeId: string): number {
    const kept = [
      ...this.perNode().map((m) => m.delete(nodeId)),
      this.pacer.forget(nodeId),
      this.inputs.forget(nodeId),
      this.rows?.forget(nodeId) ?? false,
      this.entries?.forget(nodeId) ?? false,
    ];
    return kept.filter(Boolean).length;
  }

  /** The nodes this replica keeps anything for (their documents computed here). */
  keptNodes(): Set<string> {
    return new Set(this.perNode().flatMap((m) => [...m.keys()]));
  }

  /** This replica's maps keyed by node id. */
  private perNode(): Array<Map<string, unknown>> {
    const { computed, delivered, digests, flights, held, heldDigests } = this;
    return [computed, delivered, digests, flights, held, heldDigests];
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

  /** The document, and its tenants' canonical texts and digests (kept when patching). */
  private async compute(
    nodeId: string,
    turn: () => Promise<void>,
  ): Promise<{
    doc: NodeDesired;
    kept?: { text: (tenant: DesiredTenant) => string; digest: (tenant: DesiredTenant) => string };
  }> {
    const { store } = this.deps;
    // Noted before anything is read: a local change announced later invalidates what follows.
    const seq = this.deps.notifier.current;
    // Instances first: a pool or tenant destroyed meanwhile takes its instances with it in
    // the same commit, so nothing read later can refer to rows that are not there.
    // The rows are the previous document's, patched with those changed since (node-rows.ts).
    // Then the marks (all of them: those moved since the previous read, kept-marks.ts), the
    // node and its moves: none waits for another's answer, so the four go out together on one
    // connection (Store.reads) and the server runs them in that order, one round trip where
    // they were two after two on two connections. A full read of the rows, when the changes
    // cannot tell, follows on that connection.
    const [rows, allMarks, node, moves] = await store.reads((repos) =>
      Promise.all([
        this.rows
          ? this.rows.read(nodeId, repos.instances)
          : repos.instances.documentRows(nodeId).then(groupRows),
        this.inputs.readMarks(repos.generations),
        repos.nodes.get(nodeId),
        repos.instanceMoves.activeOn(nodeId),
      ]),
    );
    if (!node) {
      throw new NotFoundError('node', nodeId, "register it with 'PUT /v1/nodes/:node' first");
    }
    // Taken now, before any tenant's data is read: the kept marks move with later reads.
    const marks = this.inputs.marksIn(allMarks, rows.order);
    await turn();
    // Its tenants' records, pools, workloads, nodes and peers: read only for tenants whose
    // document marks moved (or a local change named) since this replica last read them.
    const inputs = await this.inputs.read(nodeId, rows.tenants, seq, marks);
    // The entries' memo is taken and kept with no pause between (one computation's at a time).
    await turn();
    // Built again only for the tenants whose rows, inputs, peers or moves out of this node
    // are not those of the previous computation (desired/node-document.ts). An instance
    // leaving this node is held asleep here until its move ends (core/move-hold.ts).
    const entries = this.entries?.forNode(nodeId);
    const doc = nodeDocument(nodeId, rows, inputs, moves, entries?.memo);
    entries?.done();
    return { doc, ...(entries ? { kept: entries } : {}) };
  }
}
