import type { GuestJobCall } from '../../contract/guest-job-call.ts';
import { LeaseLostError } from '../../ports/job-link.ts';
import { RoutedJobLink, type CallTarget, type WorkerSettings } from './routed-job-link.ts';

export interface HttpJobLinkOptions extends WorkerSettings {
  /** The coordinator's base URL, e.g. http://127.0.0.1:7070 (the `/v1` prefix is added). */
  url: string;
  /** A bearer token admitted to node-scoped routes. */
  token: string;
  node: string;
}

const TRANSIENT_TRIES = 5;

const suffixes: Record<GuestJobCall, (t: CallTarget) => string> = {
  claimJobs: () => 'claim',
  heartbeatJob: (t) => `${t.job}/heartbeat`,
  completeJob: (t) => `${t.job}/complete`,
  jobModule: (t) => `${t.job}/module`,
  jobJournal: (t) => `${t.job}/journal`,
  recordEffect: (t) => `${t.job}/effects`,
  markEffectSent: (t) => `${t.job}/effects/${t.seq}/sent`,
  completeEffect: (t) => `${t.job}/effects/${t.seq}/complete`,
  parkJob: (t) => `${t.job}/park`,
};

/**
 * The job link over the coordinator's HTTP API. Every journal write is safe to send again
 * (recording the same call keeps it, completing a completed entry answers it), so transport
 * failures and 5xx answers are retried; a 409 means the lease is gone and is never retried.
 */
export class HttpJobLink extends RoutedJobLink {
  constructor(options: HttpJobLinkOptions) {
    super(
      (call, target, body) =>
        post(options, `/nodes/${options.node}/jobs/${suffixes[call](target)}`, target, body),
      options,
    );
  }
}

async function post(
  options: HttpJobLinkOptions,
  path: string,
  target: CallTarget,
  body: unknown,
): Promise<unknown> {
  let lastError: unknown;
  for (let attempt = 0; attempt < TRANSIENT_TRIES; attempt += 1) {
    if (attempt > 0) await delay(100 * 2 ** attempt);
    let response: Response;
    try {
      response = await fetch(`${options.url}/v1${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${options.token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
    } catch (error) {
      lastError = error;
      continue;
    }
    const text = await response.text();
    if (response.ok) return JSON.parse(text) as unknown;
    const message = errorText(text, response.status);
    if (response.status === 409) throw new LeaseLostError(target.job ?? '', message);
    lastError = new Error(`${path}: ${message}`);
    if (response.status < 500) break;
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

function errorText(text: string, status: number): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } };
    return parsed.error?.message ?? `HTTP ${status}`;
  } catch {
    return `HTTP ${status}: ${text.slice(0, 200)}`;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
