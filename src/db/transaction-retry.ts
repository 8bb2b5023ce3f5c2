import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, UnavailableError } from '../core/errors.ts';
import { isStalePlan } from './postgres-pool.ts';

/**
 * Postgres aborts a transaction to break a deadlock (40P01) or, at a stricter isolation, to
 * keep it serializable (40001). Nothing of it was written, so running the same work again is
 * safe and is what every client would do; the store does it for them, a bounded number of
 * times. The tenant locks keep both rare: this is the net under them, never a 500.
 */
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);
/** SQLite's write lock stayed with another process for all of busy_timeout. */
const SQLITE_BUSY = /^SQLITE_BUSY/;

export const TRANSACTION_ATTEMPTS = 5;
const BASE_PAUSE_MS = 5;

function codeOf(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A transaction the database aborted only because of other transactions running with it, or
 * because another process's migration changed the columns of a prepared statement it ran
 * (postgres-pool.ts: the statements are prepared afresh, so the next attempt runs them).
 */
export function isTransientAbort(error: unknown): boolean {
  const code = codeOf(error);
  return (code !== undefined && RETRYABLE_SQLSTATES.has(code)) || isStalePlan(error);
}

export interface RetryOptions {
  attempts?: number;
  /** Waits before attempt `attempt + 1` (default: jittered, doubling from 5 ms). */
  pause?: (attempt: number) => Promise<void>;
}

/** Random in [0, 5·2^attempt) ms: racers that collided once spread out instead of again. */
function jitteredPause(attempt: number): Promise<void> {
  return sleep(Math.random() * BASE_PAUSE_MS * 2 ** attempt).then(() => undefined);
}

/**
 * Runs `transaction` (which must begin and end its own transaction), again after a transient
 * abort. What keeps failing, and SQLite's busy timeout, become 503s that say to retry.
 */
export async function retryingTransientAborts<T>(
  transaction: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? TRANSACTION_ATTEMPTS;
  const pause = options.pause ?? jitteredPause;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await transaction();
    } catch (error) {
      if (SQLITE_BUSY.test(codeOf(error) ?? '')) throw busy();
      if (!isTransientAbort(error)) throw error;
      if (attempt >= attempts) throw contended(attempts, error);
      await pause(attempt);
    }
  }
}

function contended(attempts: number, error: unknown): UnavailableError {
  const reason = errorMessage(error);
  return new UnavailableError(
    `the database aborted this change ${attempts} times in a row because of concurrent changes (${reason}); nothing was written, retry it`,
    { attempts },
  );
}

function busy(): UnavailableError {
  return new UnavailableError(
    'the SQLite database stayed locked by another process for the whole busy timeout; nothing was written, retry it, and make sure only one coordinator uses the database',
  );
}
