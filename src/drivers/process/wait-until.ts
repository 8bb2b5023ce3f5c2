/**
 * The one way to wait (testcontainers' wait strategies): poll a readiness check on the
 * injected Clock until it yields, the deadline passes, or an AbortSignal gives up. Periodic
 * loops (heartbeats, renewals) pause with `abortableSleep` from here too.
 */
import { UnavailableError } from '../../core/errors.ts';
import type { Clock } from '../../ports/clock.ts';

export interface WaitOptions {
  clock: Clock;
  /** Give up after this long. */
  timeoutMs: number;
  /** Pause between checks; default 50 ms. */
  intervalMs?: number;
  /** What we are waiting for, for the error message ("QMP socket of vm x"). */
  what: string;
  /** Stop waiting early (shutdown); the wait then rejects with WaitAbortedError. */
  signal?: AbortSignal;
}

/** The deadline passed; says what was awaited, for how long, and the check's last error. */
export class WaitTimeoutError extends UnavailableError {
  constructor(what: string, timeoutMs: number, lastError: unknown) {
    const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
    super(`timed out after ${timeoutMs} ms waiting for ${what}${why}`, { what, timeoutMs });
  }
}

/** The caller's AbortSignal fired before the awaited thing was ready. */
export class WaitAbortedError extends UnavailableError {
  constructor(what: string, waitedMs: number) {
    super(`stopped waiting for ${what} after ${waitedMs} ms: aborted`, { what, waitedMs });
  }
}

/** Thrown from a check to stop waiting and surface `cause` instead of retrying. */
export class AbortWait extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super('wait aborted');
    this.cause = cause;
  }
}

/**
 * Polls a readiness check until it yields a value or the deadline passes. A check returns
 * `undefined` for "not yet", throws to retry (the last error is reported on timeout), or
 * throws AbortWait to stop at once (e.g. the process died).
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  options: WaitOptions,
): Promise<T> {
  const { clock, signal } = options;
  const started = clock.now().getTime();
  const deadline = started + options.timeoutMs;
  const interval = options.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    if (signal?.aborted) throw new WaitAbortedError(options.what, clock.now().getTime() - started);
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof AbortWait) throw error.cause;
      lastError = error;
    }
    const left = deadline - clock.now().getTime();
    if (left <= 0) throw new WaitTimeoutError(options.what, options.timeoutMs, lastError);
    await abortableSleep(clock, Math.min(interval, left), signal);
  }
}

/** Sleeps on the clock for `ms`, or until `signal` aborts, whichever comes first. */
export function abortableSleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return clock.sleep(ms);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    // The clock is told too, so a real timer does not outlive the abort.
    void clock.sleep(ms, signal).then(done, done);
  });
}
