import { describe, expect, it } from 'vitest';
import { ConflictError, IllegalTransitionError } from '../../../src/core/errors.ts';
import {
  applyJobEvent,
  applyJobEventOrThrow,
  expiryOf,
} from '../../../src/core/jobs/job-machine.ts';
import type { JobEvent } from '../../../src/core/jobs/job-machine.ts';
import type { Job } from '../../../src/core/jobs/job.ts';
import { queuedJob } from './job-fixture.ts';

const policy = { baseDelayMs: 1000, maxDelayMs: 60_000, maxLostAttempts: 2 };
const at = (seconds: number): string =>
  new Date(Date.UTC(2025, 0, 1) + seconds * 1000).toISOString();
const LEASE = 30_000;

function run(job: Job, ...events: JobEvent[]): Job {
  return events.reduce((current, event) => applyJobEventOrThrow(current, event, policy), job);
}
const claim = (s: number, token = 'tok-a', worker = 'w-a'): JobEvent => ({
  type: 'claim',
  at: at(s),
  token,
  worker,
  leaseMs: LEASE,
});
const fail = (s: number, retryable = true, token = 'tok-a'): JobEvent => ({
  type: 'fail',
  at: at(s),
  token,
  code: 'trap',
  message: 'unreachable executed',
  retryable,
  jitter: 0,
});

describe('job state machine', () => {
  it('claims, heartbeats and succeeds, the lease cleared at the end', () => {
    const running = run(queuedJob(), claim(1));
    expect(running).toMatchObject({
      state: 'running',
      attempts: 1,
      leaseToken: 'tok-a',
      worker: 'w-a',
      startedAt: at(1),
      leaseExpiresAt: at(31),
      version: 2,
    });
    const beat = run(running, { type: 'heartbeat', at: at(20), token: 'tok-a', leaseMs: LEASE });
    expect(beat.leaseExpiresAt).toBe(at(50));
    const done = run(beat, { type: 'succeed', at: at(40), token: 'tok-a', result: '{"ok":true}' });
    expect(done).toMatchObject({
      state: 'succeeded',
      result: '{"ok":true}',
      finishedAt: at(40),
      leaseToken: null,
      leaseExpiresAt: null,
      worker: null,
      version: 4,
    });
  });

  it('does not hand out a job before its run_at', () => {
    const later = queuedJob({ runAt: at(10) });
    expect(applyJobEvent(later, claim(9), policy)).toEqual({ ok: false, refusal: 'not_due' });
    expect(run(later, claim(10)).state).toBe('running');
  });

  it('retries a retryable failure after a backoff, then dead-letters at max attempts', () => {
    let job = run(queuedJob({ maxAttempts: 3 }), claim(0), fail(1));
    expect(job).toMatchObject({
      state: 'queued',
      failedAttempts: 1,
      runAt: at(1.5),
      errorCode: 'trap',
    });
    job = run(job, claim(2, 'tok-b'), fail(3, true, 'tok-b'));
    expect(job).toMatchObject({ state: 'queued', failedAttempts: 2, runAt: at(4) });
    job = run(job, claim(5, 'tok-c'), fail(6, true, 'tok-c'));
    expect(job).toMatchObject({ state: 'dead', failedAttempts: 3, attempts: 3, finishedAt: at(6) });
  });

  it('fails at once, without retries, when the attempt says retrying is useless', () => {
    const job = run(queuedJob({ maxAttempts: 5 }), claim(0), fail(1, false));
    expect(job).toMatchObject({
      state: 'failed',
      failedAttempts: 1,
      error: 'unreachable executed',
    });
  });

  it('counts a lost worker apart from a failed attempt and requeues it at once', () => {
    const running = run(queuedJob(), claim(0));
    expect(expiryOf(running, at(29))).toBeNull();
    expect(expiryOf(running, at(30))).toBe('worker_lost');
    const lost = run(running, { type: 'expire', at: at(31), jitter: 0.5 });
    expect(lost).toMatchObject({
      state: 'queued',
      lostAttempts: 1,
      failedAttempts: 0,
      runAt: at(31),
      errorCode: 'worker_lost',
      leaseToken: null,
    });
    const again = run(lost, claim(32, 'tok-b'), { type: 'expire', at: at(70), jitter: 0 });
    expect(again).toMatchObject({ state: 'dead', lostAttempts: 2, failedAttempts: 0 });
  });

  it('fails an attempt that outlives its timeout even while its worker heartbeats', () => {
    const job = run(queuedJob({ timeoutSecs: 40 }), claim(0), {
      type: 'heartbeat',
      at: at(25),
      token: 'tok-a',
      leaseMs: LEASE,
    });
    expect(expiryOf(job, at(40))).toBe('timeout');
    const timedOut = run(job, { type: 'expire', at: at(41), jitter: 0 });
    expect(timedOut).toMatchObject({
      state: 'queued',
      failedAttempts: 1,
      lostAttempts: 0,
      errorCode: 'timeout',
    });
  });

  it('refuses a sweep of a job whose lease is still good', () => {
    const running = run(queuedJob(), claim(0));
    expect(applyJobEvent(running, { type: 'expire', at: at(10), jitter: 0 }, policy)).toEqual({
      ok: false,
      refusal: 'not_expired',
    });
  });

  it('fences a stale worker: after its lease ran out and another claimed, its writes are refused', () => {
    const stolen = run(
      queuedJob(),
      claim(0),
      { type: 'expire', at: at(31), jitter: 0 },
      claim(32, 'tok-b', 'w-b'),
    );
    const stale: JobEvent = { type: 'succeed', at: at(33), token: 'tok-a', result: '{}' };
    expect(applyJobEvent(stolen, stale, policy)).toEqual({ ok: false, refusal: 'lease_lost' });
    expect(() => applyJobEventOrThrow(stolen, stale, policy)).toThrow(ConflictError);
    expect(() => applyJobEventOrThrow(stolen, stale, policy)).toThrow(/no longer holds its lease/);
  });

  it('fences a worker whose lease expired even before the sweeper ran', () => {
    const running = run(queuedJob(), claim(0));
    const late: JobEvent = { type: 'heartbeat', at: at(30), token: 'tok-a', leaseMs: LEASE };
    expect(applyJobEvent(running, late, policy)).toEqual({ ok: false, refusal: 'lease_lost' });
  });

  it('cancels a queued or a running job; the running worker then finds its lease lost', () => {
    expect(run(queuedJob(), { type: 'cancel', at: at(1) }).state).toBe('cancelled');
    const cancelled = run(queuedJob(), claim(0), { type: 'cancel', at: at(5) });
    expect(cancelled).toMatchObject({ state: 'cancelled', leaseToken: null, finishedAt: at(5) });
    expect(applyJobEvent(cancelled, fail(6), policy)).toEqual({ ok: false, refusal: 'lease_lost' });
  });

  it('guards terminal states: nothing moves them, and the error says what to do', () => {
    const done = run(queuedJob(), claim(0), {
      type: 'succeed',
      at: at(1),
      token: 'tok-a',
      result: '1',
    });
    for (const event of [claim(2, 'tok-z'), { type: 'cancel', at: at(2) } as const]) {
      expect(applyJobEvent(done, event, policy)).toEqual({ ok: false, refusal: 'terminal' });
    }
    expect(() => applyJobEventOrThrow(done, { type: 'cancel', at: at(2) }, policy)).toThrow(
      IllegalTransitionError,
    );
    expect(() => applyJobEventOrThrow(done, { type: 'cancel', at: at(2) }, policy)).toThrow(
      "'succeeded' is final; 'mvm job retry j-1' submits it again as a new job",
    );
  });
});
