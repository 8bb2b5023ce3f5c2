import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryCeilingMs } from '../../../src/core/jobs/backoff.ts';
import { applyJobEvent, expiryOf, holdsLease } from '../../../src/core/jobs/job-machine.ts';
import type { JobEvent } from '../../../src/core/jobs/job-machine.ts';
import { isTerminal } from '../../../src/core/jobs/job.ts';
import type { Job } from '../../../src/core/jobs/job.ts';
import { queuedJob } from './job-fixture.ts';

/**
 * Random lives of one job: claims by several workers, heartbeats and results with current,
 * stale and never-issued tokens, sweeps, cancels, on a clock that jumps forward. After every
 * event the invariants below must hold, whatever was accepted or refused.
 */
const policy = { baseDelayMs: 500, maxDelayMs: 8_000, maxLostAttempts: 3 };
const LEASE = 10_000;

type Command =
  | { kind: 'claim' }
  | { kind: 'heartbeat' | 'succeed'; pick: number }
  | { kind: 'fail'; pick: number; retryable: boolean; jitter: number }
  | { kind: 'expire'; jitter: number }
  | { kind: 'cancel' };

const jitter = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const pick = fc.nat({ max: 8 });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'claim' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('succeed' as const), pick }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('fail' as const),
      pick,
      retryable: fc.boolean(),
      jitter,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('expire' as const), jitter }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
);
const lifeArb = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 4 }),
  timeoutSecs: fc.integer({ min: 5, max: 60 }),
  steps: fc.array(fc.tuple(fc.integer({ min: 0, max: 15_000 }), commandArb), { maxLength: 60 }),
});

function eventFor(command: Command, at: string, issued: string[]): JobEvent {
  // Tokens are picked among those issued so far plus one never issued: stale ones included.
  const token = (n: number): string => issued[n % (issued.length + 1)] ?? 'never-issued';
  switch (command.kind) {
    case 'claim':
      return {
        type: 'claim',
        at,
        token: `tok-${issued.length}`,
        worker: `w-${issued.length % 3}`,
        leaseMs: LEASE,
      };
    case 'heartbeat':
      return { type: 'heartbeat', at, token: token(command.pick), leaseMs: LEASE };
    case 'succeed':
      return { type: 'succeed', at, token: token(command.pick), result: '{}' };
    case 'fail':
      return {
        type: 'fail',
        at,
        token: token(command.pick),
        code: 'trap',
        message: 'x',
        retryable: command.retryable,
        jitter: command.jitter,
      };
    case 'expire':
      return { type: 'expire', at, jitter: command.jitter };
    case 'cancel':
      return { type: 'cancel', at };
  }
}

function checkInvariants(job: Job, maxAttempts: number): void {
  const leased = job.leaseToken !== null && job.leaseExpiresAt !== null && job.worker !== null;
  const unleased = job.leaseToken === null && job.leaseExpiresAt === null && job.worker === null;
  expect(job.state === 'running' ? leased : unleased).toBe(true);
  expect(job.failedAttempts).toBeLessThanOrEqual(maxAttempts);
  expect(job.lostAttempts).toBeLessThanOrEqual(policy.maxLostAttempts);
  expect(job.failedAttempts + job.lostAttempts).toBeLessThanOrEqual(job.attempts);
  if (job.state === 'dead') {
    expect(job.failedAttempts === maxAttempts || job.lostAttempts === policy.maxLostAttempts).toBe(
      true,
    );
  }
  expect(isTerminal(job.state)).toBe(job.finishedAt !== null);
}

function checkStep(before: Job, event: JobEvent, after: Job | undefined): void {
  const workerWrite =
    event.type === 'heartbeat' || event.type === 'succeed' || event.type === 'fail';
  if (isTerminal(before.state) || (workerWrite && !holdsLease(before, event.token, event.at))) {
    expect(after).toBeUndefined();
    return;
  }
  if (after === undefined) return;
  expect(after.version).toBe(before.version + 1);
  expect(after.updatedAt).toBe(event.at);
  if (event.type === 'fail') expect(after.lostAttempts).toBe(before.lostAttempts);
  if (event.type === 'succeed') expect(after.state).toBe('succeeded');
  if (event.type === 'expire') checkSweep(before, event.at, after);
  if (event.type === 'fail' && after.state === 'queued') checkBackoff(after, event.at);
}

/** A lost worker never costs a failed attempt, and a timeout never counts as lost. */
function checkSweep(before: Job, at: string, after: Job): void {
  const why = expiryOf(before, at);
  expect(why).not.toBeNull();
  const lost = why === 'worker_lost' ? 1 : 0;
  expect(after.lostAttempts).toBe(before.lostAttempts + lost);
  expect(after.failedAttempts).toBe(before.failedAttempts + 1 - lost);
}

function checkBackoff(after: Job, at: string): void {
  const waited = Date.parse(after.runAt) - Date.parse(at);
  const ceiling = retryCeilingMs(after.failedAttempts, policy);
  expect(waited).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
  expect(waited).toBeLessThanOrEqual(ceiling);
}

describe('job state machine (property)', () => {
  it('keeps its invariants over random lives, and never lets a non-holder write', () => {
    fc.assert(
      fc.property(lifeArb, ({ maxAttempts, timeoutSecs, steps }) => {
        let job = queuedJob({ maxAttempts, timeoutSecs });
        let clock = Date.parse(job.runAt);
        const issued: string[] = [];
        for (const [dt, command] of steps) {
          clock += dt;
          const event = eventFor(command, new Date(clock).toISOString(), issued);
          const result = applyJobEvent(job, event, policy);
          checkStep(job, event, result.ok ? result.job : undefined);
          if (!result.ok) continue;
          if (event.type === 'claim') issued.push(event.token);
          job = result.job;
          checkInvariants(job, maxAttempts);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('leaves a terminal job exactly as it was, whatever comes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('succeeded', 'failed', 'cancelled', 'dead' as const),
        commandArb,
        (state, command) => {
          const job = queuedJob({ state, finishedAt: '2025-01-01T00:00:00.000Z' });
          const event = eventFor(command, '2025-01-02T00:00:00.000Z', ['tok-0']);
          expect(applyJobEvent(job, event, policy).ok).toBe(false);
        },
      ),
    );
  });
});
