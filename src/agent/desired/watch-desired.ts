import { ConflictError } from '../../core/errors.ts';
import type {
  DesiredDelta,
  DesiredManifest,
  DesiredManifestChanges,
  SignedEnvelope,
  StoredEnvelope,
} from '../../contract/desired.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Clock } from '../../ports/clock.ts';
import { abortableSleep } from '../../drivers/process/wait-until.ts';
import { rebuildEnvelope, tenantTexts, type HeldPayload } from './delta-payload.ts';
import { ManifestTenants, verifyManifest, verifyManifestChanges } from './verify-manifest.ts';
import { ValidatedTenants } from './validated-tenants.ts';
import {
  TrustedKeys,
  verifyEnvelope,
  type VerifiedDocument,
  type VerifyOptions,
} from './verify-desired.ts';

export interface WatchDesiredOptions {
  /** The coordinator client (its token or mTLS fetch); each long-poll is one of its calls. */
  api: Pick<ApiClient, 'call'>;
  nodeId: string;
  trustedKeys: readonly string[];
  production: boolean;
  /** Generation of the document the agent already holds (0 when it has none). */
  lastGeneration: number;
  /** When that document was signed: an earlier one is a replay. */
  lastIssuedAt?: string;
  /** The generation the coordinator last said it issued (read before each check). */
  minGeneration?: () => number;
  /** Documents signed longer ago than this (by `clock`) are refused as stale. */
  maxAgeMs?: number;
  /** Called with each verified document, in generation order; persist it before returning. */
  onDocument(verified: VerifiedDocument, envelope: StoredEnvelope): Promise<void> | void;
  /** Failures the loop survives (unreachable coordinator, refused documents). */
  onError?(error: unknown, retryInMs: number): void;
  signal: AbortSignal;
  clock: Clock;
  /** How long each long-poll may wait on the coordinator; default 25 s. */
  waitMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /**
   * Ask for the next document as a delta against the one held (contract/desired.ts,
   * desiredDeltaSchema); true by default. False: full envelopes only, as agents before deltas.
   */
  deltas?: boolean;
  /**
   * Ask for the document signed as a manifest of its tenants' digests, with only the texts not
   * held (contract/desired.ts, desiredManifestSchema); true by default unless `deltas` is false.
   * False: payload-signed envelopes (deltas of them if `deltas`).
   */
  manifests?: boolean;
  /**
   * With manifests, ask for the next manifest as its changes against the one held
   * (contract/desired.ts, desiredManifestChangesSchema); true by default. False: manifests
   * with every digest, the held texts left out.
   */
  manifestChanges?: boolean;
}

/**
 * What a poll asks for: a manifest's changes, a manifest, a delta of a payload, or a
 * payload-signed envelope.
 */
type Asking = 'changes' | 'manifest' | 'delta' | 'whole';

const DEFAULT_WAIT_MS = 25_000;
/** Slack on top of waitMs before a silent coordinator counts as gone. */
const ANSWER_SLACK_MS = 10_000;

/**
 * Long-polls the coordinator for this node's desired-state document until `signal` aborts.
 * Every document is verified before the callback sees it; a refused or unreachable answer
 * is reported and retried with exponential backoff, so a coordinator restart or outage only
 * pauses the watch (the agent keeps converging on what it already holds meanwhile).
 *
 * Once it holds a document it asks for the next as a delta against it: made whole
 * (delta-payload.ts) and then verified exactly as a full envelope, signature first. A delta it
 * cannot make whole or that fails verification is reported and the document asked for again
 * whole, at once and once; the callback only ever sees a whole, verified envelope.
 *
 * By default it asks for manifests instead (verify-manifest.ts): the signature covers the
 * tenants' digests, and only the texts it does not hold are sent, hashed and parsed. A manifest
 * it cannot use or verify is reported and the document asked for whole, payload-signed.
 */
export async function watchDesired(options: WatchDesiredOptions): Promise<void> {
  const backoff = options.backoff ?? { initialMs: 200, maxMs: 10_000 };
  let last = { generation: options.lastGeneration, issuedAt: options.lastIssuedAt };
  let delay = backoff.initialMs;
  // A document's tenants unchanged since the previous one are not validated again.
  const tenants = new ValidatedTenants();
  const keys = new TrustedKeys();
  // The held document's tenants' texts: what a delta's indices refer to.
  let held: HeldPayload | undefined;
  // The last delta could not be used: the next answer is asked for whole.
  const preferred: Exclude<Asking, 'changes'> =
    options.deltas === false ? 'whole' : options.manifests === false ? 'delta' : 'manifest';
  // The held document's tenants by digest: what a manifest may leave out.
  const byDigest = preferred === 'manifest' ? new ManifestTenants() : undefined;
  // A document held from before (on disk, after a restart) has no texts here: the coordinator
  // may leave them out of a manifest against it, so the first is asked for signed whole.
  let whole = preferred === 'whole' || (preferred === 'manifest' && options.lastGeneration > 0);
  while (!options.signal.aborted) {
    let fromDelta = false;
    try {
      // Asked for even with nothing held: the coordinator then answers whole and keeps what it
      // sent as the base of the next delta (a delta against what this watch does not hold is
      // of no use, and asked for again whole).
      const base = held?.generation === last.generation ? held : undefined;
      // Changes of the manifest held, when it holds the one it asks after.
      const changes =
        options.manifestChanges !== false &&
        last.generation > 0 &&
        byDigest?.generation === last.generation;
      const asking = whole ? 'whole' : preferred === 'manifest' && changes ? 'changes' : preferred;
      const answer = await poll(options, last.generation, asking);
      delay = backoff.initialMs;
      if (answer === undefined) continue;
      if ('manifest' in answer || 'changes' in answer) {
        fromDelta = true;
        const bounds = verifyOptions(options, last);
        const { verified, envelope } =
          'changes' in answer
            ? verifyManifestChanges(answer, bounds, byDigest)
            : verifyManifest(answer, bounds, byDigest);
        fromDelta = false;
        await options.onDocument(verified, envelope);
        const { document } = verified;
        last = document;
        byDigest?.keep(
          envelope.manifest.digests,
          envelope.tenants,
          document.tenants,
          last.generation,
        );
        whole = false;
        continue;
      }
      fromDelta = 'delta' in answer;
      const { envelope, texts } =
        'delta' in answer ? rebuildEnvelope(answer, base) : { envelope: answer, texts: undefined };
      const bounds = { ...verifyOptions(options, last), tenants, keys };
      const verified = verifyEnvelope(envelope, bounds);
      fromDelta = false;
      await options.onDocument(verified, envelope);
      last = verified.document;
      // A whole document's texts were cut by its verification (validated-tenants.ts).
      const cut = texts ?? (preferred === 'whole' ? undefined : tenants.keptTexts());
      held = cut && { generation: last.generation, texts: cut };
      // After a manifest it could not use: its texts by their digests, for the next manifest.
      byDigest?.keepTexts(
        last.generation,
        cut ?? tenantTexts(envelope.payload),
        verified.document.tenants,
      );
      whole = preferred === 'whole';
    } catch (error) {
      if (options.signal.aborted) break;
      if (fromDelta && !whole) {
        // Never half a document: the next poll asks for this one whole, without waiting.
        options.onError?.(error, 0);
        whole = true;
        continue;
      }
      options.onError?.(error, delay);
      await abortableSleep(options.clock, delay, options.signal);
      delay = Math.min(delay * 2, backoff.maxMs);
    }
  }
}

function verifyOptions(
  options: WatchDesiredOptions,
  last: { generation: number; issuedAt: string | undefined },
): VerifyOptions {
  return {
    trustedKeys: options.trustedKeys,
    production: options.production,
    nodeId: options.nodeId,
    lastGeneration: last.generation,
    ...(last.issuedAt !== undefined ? { lastIssuedAt: last.issuedAt } : {}),
    ...(options.minGeneration ? { minGeneration: options.minGeneration() } : {}),
    ...(options.maxAgeMs !== undefined
      ? { maxAgeMs: options.maxAgeMs, nowMs: options.clock.now().getTime() }
      : {}),
  };
}

/**
 * One long-poll: a new envelope (or, asked with `delta`, a delta against `after`), or undefined
 * when nothing changed within the wait.
 */
async function poll(
  options: WatchDesiredOptions,
  after: number,
  asking: Asking,
): Promise<SignedEnvelope | DesiredDelta | DesiredManifest | DesiredManifestChanges | undefined> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const flags = {
    changes: { manifest: '1', changes: '1' },
    manifest: { manifest: '1' },
    delta: { delta: '1' },
    whole: {},
  } as const;
  const flag = flags[asking];
  const query = { after, waitMs, ...flag };
  const answer = await options.api.call(
    'watchNodeDesired',
    { params: { node: options.nodeId }, query },
    { signal: options.signal, timeoutMs: waitMs + ANSWER_SLACK_MS },
  );
  if (!('unchanged' in answer)) return answer;
  if (answer.generation < after) {
    throw new ConflictError(
      `the coordinator is at generation ${answer.generation} for node '${options.nodeId}', below the ${after} this agent holds; was its store reset? the agent keeps its document until a newer one arrives`,
    );
  }
  return undefined;
}
