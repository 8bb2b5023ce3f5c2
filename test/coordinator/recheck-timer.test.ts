import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RecheckTimer } from '../../src/coordinator/services/recheck-timer.ts';
import type { PoolRef, RecheckResult } from '../../src/coordinator/services/sleep-rechecks.ts';
import type { Instance } from '../../src/core/model.ts';

const START = Date.parse('2025-03-01T09:00:00.000Z');
const at = (ms: number) => new Date(START + ms).toISOString();

/** The timer against fake timers; Date is faked too, so the clock moves with them. */
function harness(results: (ref: PoolRef) => RecheckResult | Error = () => ({ changed: [] })) {
  const calls: string[] = [];
  const errors: unknown[] = [];
  let changes = 0;
  const timer = new RecheckTimer({
    clock: { now: () => new Date(), sleep: async () => {} },
    rechecks: {
      recheckPool: async (ref) => {
        calls.push(`${ref.poolId}@${Date.now() - START}`);
        const result = results(ref);
        if (result instanceof Error) throw result;
        return result;
      },
      pending: async () => [{ tenantId: 't', poolId: 'restored', at: at(500) }],
    },
    onChange: async () => {
      changes += 1;
    },
    onError: (error) => errors.push(error),
  });
  return { timer, calls, errors, changes: () => changes };
}

beforeEach(() => {
  vi.useFakeTimers({ now: START });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RecheckTimer', () => {
  it('fires at the earliest noted time, pool by pool', async () => {
    const { timer, calls } = harness();
    timer.note({ tenantId: 't', poolId: 'late' }, at(3_000));
    timer.note({ tenantId: 't', poolId: 'early' }, at(1_000));
    timer.note({ tenantId: 't', poolId: 'early' }, at(2_000)); // later than known: ignored
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual(['early@1000']);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toEqual(['early@1000', 'late@3000']);
    await timer.close();
  });

  it('notes what a re-check still puts off and wakes the fleet after a change', async () => {
    // Nothing is due at the first look; the second demotes one instance.
    const { timer, calls, changes } = harness(() =>
      Date.now() - START < 2_000
        ? { changed: [], recheckAt: at(2_000) }
        : { changed: [{} as Instance] },
    );
    timer.note({ tenantId: 't', poolId: 'x' }, at(1_000));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toEqual(['x@1000', 'x@2000']);
    expect(changes()).toBe(1);
    await timer.close();
  });

  it('retries a failed re-check and reports the failure', async () => {
    let fail = true;
    const { timer, calls, errors } = harness(() => {
      if (!fail) return { changed: [] };
      fail = false;
      return new Error('lost a race');
    });
    timer.note({ tenantId: 't', poolId: 'x' }, at(0));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual(['x@0', 'x@5000']);
    expect(errors).toHaveLength(1);
    await timer.close();
  });

  it('restores notes from the store on start', async () => {
    const { timer, calls } = harness();
    await timer.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toEqual(['restored@500']);
    await timer.close();
  });

  it('does nothing once closed', async () => {
    const { timer, calls } = harness();
    timer.note({ tenantId: 't', poolId: 'x' }, at(1_000));
    await timer.close();
    timer.note({ tenantId: 't', poolId: 'y' }, at(1_000));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toEqual([]);
    expect(await timer.runDue()).toEqual([]);
  });
});
