import { describe, expect, it } from 'vitest';
import { HostError, UnavailableError } from '../../../src/core/errors.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import {
  AbortWait,
  abortableSleep,
  WaitAbortedError,
  waitUntil,
  WaitTimeoutError,
} from '../../../src/drivers/process/wait-until.ts';
import type { Clock } from '../../../src/ports/clock.ts';

/** Time that passes only when the code under test sleeps on it; records every sleep. */
function steppingClock(): Clock & { sleeps: number[] } {
  let ms = 0;
  const sleeps: number[] = [];
  return {
    now: () => new Date(ms),
    sleep: async (step) => {
      sleeps.push(step);
      ms += step;
      await Promise.resolve();
    },
    sleeps,
  };
}

describe('waitUntil', () => {
  it('returns the first value the check yields, checking every interval', async () => {
    const clock = steppingClock();
    let calls = 0;
    const value = await waitUntil(() => (++calls === 4 ? 'ready' : undefined), {
      clock,
      timeoutMs: 1_000,
      intervalMs: 25,
      what: 'the fourth check',
    });
    expect(value).toBe('ready');
    expect(clock.sleeps).toEqual([25, 25, 25]);
  });

  it('times out on the injected clock and says what, how long and the last error', async () => {
    const clock = steppingClock();
    const started = Date.now();
    const waiting = waitUntil(
      () => {
        throw new Error('connection refused');
      },
      { clock, timeoutMs: 3_600_000, intervalMs: 60_000, what: 'the API socket of vm x' },
    );
    await expect(waiting).rejects.toThrow(WaitTimeoutError);
    await expect(waiting).rejects.toThrow(
      'timed out after 3600000 ms waiting for the API socket of vm x (last error: connection refused)',
    );
    await expect(waiting).rejects.toMatchObject({
      code: 'unavailable',
      details: { what: 'the API socket of vm x', timeoutMs: 3_600_000 },
    });
    expect(Date.now() - started).toBeLessThan(1_000);
    // The last sleep is cut to the deadline, never past it.
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(3_600_000);
  });

  it('stops at once with the cause of an AbortWait thrown by the check', async () => {
    const clock = steppingClock();
    const died = new HostError('qemu exited (1)');
    await expect(
      waitUntil(
        () => {
          throw new AbortWait(died);
        },
        { clock, timeoutMs: 10_000, what: 'QMP' },
      ),
    ).rejects.toBe(died);
    expect(clock.sleeps).toEqual([]);
  });

  it('gives up promptly when its AbortSignal fires mid-sleep', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const waiting = waitUntil(() => undefined, {
      clock: systemClock,
      timeoutMs: 60_000,
      intervalMs: 30_000,
      what: 'something that never comes',
      signal: controller.signal,
    });
    await expect(waiting).rejects.toThrow(WaitAbortedError);
    await expect(waiting).rejects.toThrow(/stopped waiting for something that never comes after/);
    await expect(waiting).rejects.toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('does not even check once when already aborted', async () => {
    let calls = 0;
    const controller = new AbortController();
    controller.abort();
    await expect(
      waitUntil(() => ++calls, {
        clock: systemClock,
        timeoutMs: 1_000,
        what: 'x',
        signal: controller.signal,
      }),
    ).rejects.toThrow(WaitAbortedError);
    expect(calls).toBe(0);
  });
});

describe('abortableSleep', () => {
  it('sleeps the full time on the clock without a signal', async () => {
    const clock = steppingClock();
    await abortableSleep(clock, 500);
    expect(clock.sleeps).toEqual([500]);
  });

  it('ends early on abort, with the system clock too (its timer is cleared)', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const started = Date.now();
    await abortableSleep(systemClock, 60_000, controller.signal);
    expect(Date.now() - started).toBeLessThan(2_000);
    const direct = new AbortController();
    setTimeout(() => direct.abort(), 30);
    await expect(systemClock.sleep(60_000, direct.signal)).resolves.toBeUndefined();
  });

  it('ends early on abort even with a clock that ignores the signal', async () => {
    const deaf: Clock = { now: () => new Date(), sleep: () => new Promise(() => {}) };
    const controller = new AbortController();
    const sleeping = abortableSleep(deaf, 1_000, controller.signal);
    controller.abort();
    await expect(sleeping).resolves.toBeUndefined();
  });
});
