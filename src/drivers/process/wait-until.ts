import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../../core/errors.ts';

export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Pause between checks. */
  intervalMs?: number;
  /** What we are waiting for, for the error message ("QMP socket of vm x"). */
  what: string;
}

/**
 * Polls a readiness check until it yields a value or the deadline passes. A check returns
 * `undefined` for "not yet" and throws to abort at once (e.g. the process died).
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof AbortWait) throw error.cause;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new UnavailableError(
        `timed out after ${options.timeoutMs} ms waiting for ${options.what}${why}`,
      );
    }
    await sleep(Math.min(interval, Math.max(1, deadline - Date.now())));
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
