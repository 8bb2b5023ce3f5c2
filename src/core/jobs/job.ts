/**
 * A job: one WebAssembly module run with one input on a worker of a pool, with a lease while a
 * worker holds it. Times are ISO-8601 text like every stored time; `input` and `result` are
 * JSON text exactly as given, so what the module reads is byte for byte what was submitted.
 */
export const jobStates = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'dead'] as const;
export type JobState = (typeof jobStates)[number];

/**
 * Nothing moves a job out of these. `failed`: an attempt failed and said retrying is useless;
 * `dead`: attempts (or lost workers) ran out. A retry of either is a new job (`retryOf`).
 */
export const terminalJobStates: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'dead'];

export function isTerminal(state: JobState): boolean {
  return terminalJobStates.includes(state);
}

export interface Job {
  id: string;
  tenantId: string;
  poolId: string;
  /** Lower-case hex sha256 of the module's bytes; the module is stored under it per tenant. */
  moduleSha256: string;
  /** JSON text. */
  input: string;
  state: JobState;
  /** Higher runs first; ties run in `runAt` order. */
  priority: number;
  /** Claims so far, whatever became of them. */
  attempts: number;
  /** Attempts that ended in a failure the module or its deadline caused. */
  failedAttempts: number;
  /** Attempts whose worker stopped renewing its lease (crashed, stopped, cut off). */
  lostAttempts: number;
  maxAttempts: number;
  /** Not claimable before. */
  runAt: string;
  /** Set exactly while running: the holder's fencing token, its expiry and the worker. */
  leaseToken: string | null;
  leaseExpiresAt: string | null;
  worker: string | null;
  /** Wall-clock limit of one attempt, from its claim. */
  timeoutSecs: number;
  /** The claim time of the current (or last) attempt. */
  startedAt: string | null;
  /** Unique per tenant; a second submit with the same key gets the first job back. */
  idempotencyKey: string | null;
  /** The job this one retries (`mvm job retry` makes a new job). */
  retryOf: string | null;
  /** JSON text the module gave on success. */
  result: string | null;
  /** Why the last attempt failed (`timeout`, `worker_lost`, `trap`, …), and how. */
  errorCode: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  version: number;
}
