import { ConflictError } from '../../core/errors.ts';
import type { DesiredDelta, SignedEnvelope } from '../../contract/desired.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Clock } from '../../ports/clock.ts';
import { abortableSleep } from '../../drivers/process/wait-until.ts';
import { rebuildEnvelope, type HeldPayload } from './delta-payload.ts';
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
  onDocument(verified: VerifiedDocument, envelope: SignedEnvelope): Promise<void> | void;
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
}

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
  let whole = options.deltas === false;
  while (!options.signal.aborted) {
    let fromDelta = false;
    try {
      // Asked for even with nothing held: the coordinator then answers whole and keeps what it
      // sent as the base of the next delta (a delta against what this watch does not hold is
      // of no use, and asked for again whole).
      const base = held?.generation === last.generation ? held : undefined;
      const answer = await poll(options, last.generation, !whole);
      delay = backoff.initialMs;
      if (answer === undefined) continue;
      fromDelta = 'delta' in answer;
      const { envelope, texts } =
        'delta' in answer ? rebuildEnvelope(answer, base) : { envelope: answer, texts: undefined };
      const bounds = { ...verifyOptions(options, last), tenants, keys };
      const verified = verifyEnvelope(envelope, bounds);
      fromDelta = false;
      await options.onDocument(verified, envelope);
      last = verified.document;
      // A whole document's texts were cut by its verification (validated-tenants.ts).
      const cut = texts ?? (options.deltas === false ? undefined : tenants.keptTexts());
      held = cut && { generation: last.generation, texts: cut };
      whole = options.deltas === false;
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
  delta: boolean,
): Promise<SignedEnvelope | DesiredDelta | undefined> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const query = { after, waitMs, ...(delta ? { delta: '1' as const } : {}) };
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
