import { ConflictError } from '../../core/errors.ts';
import type { SignedEnvelope } from '../../contract/desired.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Clock } from '../../ports/clock.ts';
import { abortableSleep } from '../../drivers/process/wait-until.ts';
import { ValidatedTenants } from './validated-tenants.ts';
import { verifyEnvelope, type VerifiedDocument, type VerifyOptions } from './verify-desired.ts';

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
}

const DEFAULT_WAIT_MS = 25_000;
/** Slack on top of waitMs before a silent coordinator counts as gone. */
const ANSWER_SLACK_MS = 10_000;

/**
 * Long-polls the coordinator for this node's desired-state document until `signal` aborts.
 * Every document is verified before the callback sees it; a refused or unreachable answer
 * is reported and retried with exponential backoff, so a coordinator restart or outage only
 * pauses the watch (the agent keeps converging on what it already holds meanwhile).
 */
export async function watchDesired(options: WatchDesiredOptions): Promise<void> {
  const backoff = options.backoff ?? { initialMs: 200, maxMs: 10_000 };
  let last = { generation: options.lastGeneration, issuedAt: options.lastIssuedAt };
  let delay = backoff.initialMs;
  // A document's tenants unchanged since the previous one are not validated again.
  const tenants = new ValidatedTenants();
  while (!options.signal.aborted) {
    try {
      const answer = await poll(options, last.generation);
      delay = backoff.initialMs;
      if (answer === undefined) continue;
      const verified = verifyEnvelope(answer, { ...verifyOptions(options, last), tenants });
      await options.onDocument(verified, answer);
      last = verified.document;
    } catch (error) {
      if (options.signal.aborted) break;
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

/** One long-poll: a new envelope, or undefined when nothing changed within the wait. */
async function poll(
  options: WatchDesiredOptions,
  after: number,
): Promise<SignedEnvelope | undefined> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const answer = await options.api.call(
    'watchNodeDesired',
    { params: { node: options.nodeId }, query: { after, waitMs } },
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
