/** How a job's failed and lost attempts are retried. */
export interface RetryPolicy {
  /** The delay ceiling after the first failed attempt; it doubles after each further one. */
  baseDelayMs: number;
  /** No retry waits longer than this. */
  maxDelayMs: number;
  /**
   * Lost workers a job may go through before it is dead. Apart from `maxAttempts` so a fleet
   * losing nodes does not spend a job's retries, yet bounded so a job that kills every worker
   * it lands on (out of memory, a host crash it triggers) stops being handed out.
   */
  maxLostAttempts: number;
}

export const defaultRetryPolicy: Readonly<RetryPolicy> = Object.freeze({
  baseDelayMs: 1_000,
  maxDelayMs: 10 * 60_000,
  maxLostAttempts: 5,
});

/** Past this the doubling has long hit any sane cap; stopping here keeps the maths finite. */
const MAX_DOUBLINGS = 40;

/** The upper bound of the delay after `failures` failed attempts (1 = the first). */
export function retryCeilingMs(failures: number, policy: RetryPolicy): number {
  const doublings = Math.min(Math.max(failures - 1, 0), MAX_DOUBLINGS);
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** doublings);
}

/**
 * Exponential backoff with "equal jitter": half the ceiling is fixed, the other half random.
 * Workers that failed together spread out, yet every retry still waits at least half its
 * ceiling, so a broken dependency is not hammered by unlucky draws near zero.
 * `jitter` is a draw in [0, 1): core takes no randomness of its own.
 */
export function retryDelayMs(failures: number, policy: RetryPolicy, jitter: number): number {
  const ceiling = retryCeilingMs(failures, policy);
  const unit = Math.min(Math.max(jitter, 0), 1);
  return Math.floor(ceiling / 2 + (ceiling / 2) * unit);
}
