import { ConflictError, UnavailableError } from '../../core/errors.ts';
import { desiredWatchResponseSchema, type SignedEnvelope } from '../../contract/desired.ts';
import type { Clock } from '../../ports/clock.ts';
import { abortableSleep } from '../abortable-sleep.ts';
import { verifyEnvelope, type VerifiedDocument, type VerifyOptions } from './verify-desired.ts';

export type FetchLike = (request: Request) => Promise<Response>;

export interface WatchDesiredOptions {
  baseUrl: string;
  token?: string;
  nodeId: string;
  trustedKeys: readonly string[];
  production: boolean;
  /** Generation of the document the agent already holds (0 when it has none). */
  lastGeneration: number;
  /** Called with each verified document, in generation order; persist it before returning. */
  onDocument(verified: VerifiedDocument, envelope: SignedEnvelope): Promise<void> | void;
  /** Failures the loop survives (unreachable coordinator, refused documents). */
  onError?(error: unknown, retryInMs: number): void;
  signal: AbortSignal;
  clock: Clock;
  fetch?: FetchLike;
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
  let last = options.lastGeneration;
  let delay = backoff.initialMs;
  while (!options.signal.aborted) {
    try {
      const answer = await poll(options, last);
      delay = backoff.initialMs;
      if (answer === undefined) continue;
      const verified = verifyEnvelope(answer, verifyOptions(options, last));
      await options.onDocument(verified, answer);
      last = verified.document.generation;
    } catch (error) {
      if (options.signal.aborted) break;
      options.onError?.(error, delay);
      await abortableSleep(options.clock, delay, options.signal);
      delay = Math.min(delay * 2, backoff.maxMs);
    }
  }
}

function verifyOptions(options: WatchDesiredOptions, last: number): VerifyOptions {
  return {
    trustedKeys: options.trustedKeys,
    production: options.production,
    nodeId: options.nodeId,
    lastGeneration: last,
  };
}

/** One long-poll: a new envelope, or undefined when nothing changed within the wait. */
async function poll(
  options: WatchDesiredOptions,
  after: number,
): Promise<SignedEnvelope | undefined> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const url = new URL(
    `/v1/nodes/${encodeURIComponent(options.nodeId)}/desired`,
    options.baseUrl.replace(/\/+$/, '') + '/',
  );
  url.search = new URLSearchParams({ after: String(after), waitMs: String(waitMs) }).toString();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(waitMs + ANSWER_SLACK_MS)]);
  const send = options.fetch ?? ((request: Request) => fetch(request));
  let response: Response;
  try {
    response = await send(new Request(url, { headers, signal }));
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    throw new UnavailableError(`cannot reach the coordinator at ${options.baseUrl}: ${cause}`);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    throw new UnavailableError(
      `coordinator answered ${response.status} to the desired-state watch: ${JSON.stringify(body)}`,
    );
  }
  const answer = desiredWatchResponseSchema.parse(body);
  if (!('unchanged' in answer)) return answer;
  if (answer.generation < after) {
    throw new ConflictError(
      `the coordinator is at generation ${answer.generation} for node '${options.nodeId}', below the ${after} this agent holds; was its store reset? the agent keeps its document until a newer one arrives`,
    );
  }
  return undefined;
}
