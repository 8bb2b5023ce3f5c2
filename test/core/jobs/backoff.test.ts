import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  defaultRetryPolicy,
  retryCeilingMs,
  retryDelayMs,
} from '../../../src/core/jobs/backoff.ts';
import type { RetryPolicy } from '../../../src/core/jobs/backoff.ts';

const policyArb: fc.Arbitrary<RetryPolicy> = fc
  .record({
    base: fc.integer({ min: 0, max: 60_000 }),
    extra: fc.integer({ min: 0, max: 3_600_000 }),
  })
  .map(({ base, extra }) => ({ baseDelayMs: base, maxDelayMs: base + extra, maxLostAttempts: 5 }));
const failuresArb = fc.integer({ min: 1, max: 10_000 });
const jitterArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('retry backoff', () => {
  it('doubles from the base and stops at the cap (hand-computed)', () => {
    const policy = { baseDelayMs: 1000, maxDelayMs: 10_000, maxLostAttempts: 5 };
    expect([1, 2, 3, 4, 5, 6, 100].map((n) => retryCeilingMs(n, policy))).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
    expect(retryDelayMs(3, policy, 0)).toBe(2000);
    expect(retryDelayMs(3, policy, 0.5)).toBe(3000);
  });

  it('waits between half the ceiling and the ceiling, never past the cap', () => {
    fc.assert(
      fc.property(policyArb, failuresArb, jitterArb, (policy, failures, jitter) => {
        const ceiling = retryCeilingMs(failures, policy);
        const delay = retryDelayMs(failures, policy, jitter);
        expect(Number.isFinite(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(delay).toBeLessThanOrEqual(ceiling);
        expect(ceiling).toBeLessThanOrEqual(policy.maxDelayMs);
      }),
    );
  });

  it('never waits less after more failures (the ceiling only grows)', () => {
    fc.assert(
      fc.property(policyArb, failuresArb, (policy, failures) => {
        expect(retryCeilingMs(failures + 1, policy)).toBeGreaterThanOrEqual(
          retryCeilingMs(failures, policy),
        );
      }),
    );
  });

  it('spreads draws: different jitter gives different delays once the ceiling is large', () => {
    const low = retryDelayMs(5, defaultRetryPolicy, 0.1);
    const high = retryDelayMs(5, defaultRetryPolicy, 0.9);
    expect(high - low).toBeGreaterThan(0.7 * (retryCeilingMs(5, defaultRetryPolicy) / 2));
  });
});
