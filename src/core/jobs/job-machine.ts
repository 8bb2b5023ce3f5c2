import { ConflictError, IllegalTransitionError } from '../errors.ts';
import { retryDelayMs } from './backoff.ts';
import type { RetryPolicy } from './backoff.ts';
import { isTerminal } from './job.ts';
import type { Job } from './job.ts';

/**
 * Everything that moves a job, as values. The store's queue statements implement the same
 * guards in SQL (state, lease token, lease expiry in the WHERE clause); this is the spec they
 * are tested against. Events that carry a `token` come from the worker holding the lease and
 * are fenced by it. `jitter` is a draw in [0, 1) for the retry delay.
 */
export type JobEvent =
  | { type: 'claim'; at: string; worker: string; token: string; leaseMs: number }
  | { type: 'heartbeat'; at: string; token: string; leaseMs: number }
  | { type: 'succeed'; at: string; token: string; result: string }
  | {
      type: 'fail';
      at: string;
      token: string;
      code: string;
      message: string;
      retryable: boolean;
      jitter: number;
    }
  /** The sweeper: the lease ran out (a lost worker) or the attempt outlived its timeout. */
  | { type: 'expire'; at: string; jitter: number }
  | { type: 'cancel'; at: string };

export type JobEventType = JobEvent['type'];

/**
 * Why an event changed nothing. `lease_lost`: the worker's token is not the holder's, or its
 * lease has run out; it must stop at once and write nothing more.
 */
export type JobRefusal =
  'terminal' | 'not_queued' | 'not_due' | 'not_running' | 'lease_lost' | 'not_expired';

export type JobStep = { ok: true; job: Job } | { ok: false; refusal: JobRefusal };

const refuse = (refusal: JobRefusal): JobStep => ({ ok: false, refusal });

/** The job after `event`, or why the event is refused. Never mutates `job`. */
export function applyJobEvent(job: Job, event: JobEvent, policy: RetryPolicy): JobStep {
  // A worker's write to a job it no longer holds is refused the same way whatever became of
  // the job (finished by another, cancelled, requeued): the store sees only 0 rows updated.
  if ('token' in event && event.type !== 'claim' && !holdsLease(job, event.token, event.at)) {
    return refuse('lease_lost');
  }
  if (isTerminal(job.state)) return refuse('terminal');
  switch (event.type) {
    case 'claim':
      return claim(job, event);
    case 'heartbeat':
      return step(job, event.at, { leaseExpiresAt: plusMs(event.at, event.leaseMs) });
    case 'succeed':
      return step(job, event.at, finish('succeeded', event.at, { result: event.result }));
    case 'fail':
      return step(job, event.at, failAttempt(job, event, policy));
    case 'expire':
      return expire(job, event, policy);
    case 'cancel':
      return step(job, event.at, finish('cancelled', event.at, {}));
  }
}

function claim(job: Job, event: Extract<JobEvent, { type: 'claim' }>): JobStep {
  if (job.state !== 'queued') return refuse('not_queued');
  if (ms(job.runAt) > ms(event.at)) return refuse('not_due');
  return step(job, event.at, {
    state: 'running',
    attempts: job.attempts + 1,
    leaseToken: event.token,
    leaseExpiresAt: plusMs(event.at, event.leaseMs),
    worker: event.worker,
    startedAt: event.at,
  });
}

export function holdsLease(job: Job, token: string, at: string): boolean {
  return (
    job.state === 'running' &&
    job.leaseToken === token &&
    job.leaseExpiresAt !== null &&
    ms(job.leaseExpiresAt) > ms(at)
  );
}

/** When the running attempt must be over, whatever its heartbeats say. */
export function attemptDeadline(job: Job): string | null {
  return job.startedAt === null ? null : plusMs(job.startedAt, job.timeoutSecs * 1000);
}

/**
 * What the sweeper finds on a running job at `at`: an attempt past its deadline failed (the
 * module ran too long: a failed attempt); a lease that ran out first was lost (the worker
 * went away: not the job's fault). `null`: neither, leave it.
 */
export function expiryOf(job: Job, at: string): 'timeout' | 'worker_lost' | null {
  if (job.state !== 'running') return null;
  const deadline = attemptDeadline(job);
  if (deadline !== null && ms(deadline) <= ms(at)) return 'timeout';
  if (job.leaseExpiresAt !== null && ms(job.leaseExpiresAt) <= ms(at)) return 'worker_lost';
  return null;
}

function expire(job: Job, event: Extract<JobEvent, { type: 'expire' }>, policy: RetryPolicy) {
  if (job.state !== 'running') return refuse('not_running');
  const why = expiryOf(job, event.at);
  if (why === null) return refuse('not_expired');
  if (why === 'timeout') {
    const message = `the attempt ran past its ${job.timeoutSecs} s timeout`;
    return step(
      job,
      event.at,
      failAttempt(job, { ...event, code: why, message, retryable: true }, policy),
    );
  }
  return step(job, event.at, loseAttempt(job, event.at, policy));
}

type Failure = { at: string; code: string; message: string; retryable: boolean; jitter: number };

function failAttempt(job: Job, failure: Failure, policy: RetryPolicy): Partial<Job> {
  const failedAttempts = job.failedAttempts + 1;
  const error = { failedAttempts, errorCode: failure.code, error: failure.message };
  if (!failure.retryable) return finish('failed', failure.at, error);
  if (failedAttempts >= job.maxAttempts) return finish('dead', failure.at, error);
  const delay = retryDelayMs(failedAttempts, policy, failure.jitter);
  return { ...requeue(plusMs(failure.at, delay)), ...error };
}

/** A lost worker requeues at once: the job did nothing wrong, so it waits for no backoff. */
function loseAttempt(job: Job, at: string, policy: RetryPolicy): Partial<Job> {
  const lostAttempts = job.lostAttempts + 1;
  const message = `worker ${job.worker ?? '?'} stopped renewing its lease`;
  const error = { lostAttempts, errorCode: 'worker_lost', error: message };
  if (lostAttempts >= policy.maxLostAttempts) return finish('dead', at, error);
  return { ...requeue(at), ...error };
}

const noLease = { leaseToken: null, leaseExpiresAt: null, worker: null } as const;

function requeue(runAt: string): Partial<Job> {
  return { state: 'queued', runAt, ...noLease };
}

function finish(state: Job['state'], at: string, patch: Partial<Job>): Partial<Job> {
  return { ...patch, state, finishedAt: at, ...noLease };
}

function step(job: Job, at: string, patch: Partial<Job>): JobStep {
  return { ok: true, job: { ...job, ...patch, updatedAt: at, version: job.version + 1 } };
}

/** Applies the event or throws the error an API caller should see. */
export function applyJobEventOrThrow(job: Job, event: JobEvent, policy: RetryPolicy): Job {
  const result = applyJobEvent(job, event, policy);
  if (result.ok) return result.job;
  throw refusalError(job, event.type, result.refusal);
}

export function refusalError(job: Job, type: JobEventType, refusal: JobRefusal): Error {
  const subject = `job ${job.id}`;
  switch (refusal) {
    case 'terminal':
      return new IllegalTransitionError(
        subject,
        job.state,
        type,
        `'${job.state}' is final; 'mvm job retry ${job.id}' submits it again as a new job`,
      );
    case 'lease_lost':
      return new ConflictError(
        `${subject}: this worker no longer holds its lease (it expired or the job was taken over or cancelled); stop working on it`,
        { reason: refusal },
      );
    default:
      return new ConflictError(
        `${subject} is '${job.state}': cannot ${type} it now (${refusal.replace('_', ' ')})`,
        { reason: refusal },
      );
  }
}

function ms(iso: string): number {
  return Date.parse(iso);
}

function plusMs(iso: string, delta: number): string {
  return new Date(ms(iso) + delta).toISOString();
}
