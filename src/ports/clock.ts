/** Time, injected so that waits and timestamps are testable. */
export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}
