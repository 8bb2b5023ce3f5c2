/** Time, injected so that waits and timestamps are testable. */
export interface Clock {
  now(): Date;
  /** Resolves after `ms`, or early once `signal` aborts (a clock may ignore the signal). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
