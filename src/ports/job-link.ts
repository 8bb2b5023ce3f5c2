import type { EffectEntry, EffectOp } from '../core/jobs/effect-journal.ts';

/** A job as the executor holds it: what to run, and the lease token that fences its writes. */
export interface HeldJob {
  id: string;
  token: string;
  input: string;
  moduleSha256: string;
  timeoutSecs: number;
  startedAt: string | null;
  attempts: number;
}

export type JournalEntry = Omit<EffectEntry, 'jobId'>;

export type JobEnd =
  | { outcome: 'succeeded'; result: string }
  | { outcome: 'failed'; code: string; message: string; retryable: boolean };

/**
 * Thrown by every call once the coordinator answers that this worker no longer holds the
 * job's lease (409 lease_lost, or the journal refused the write): stop the job, write nothing.
 */
export class LeaseLostError extends Error {
  constructor(
    readonly jobId: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The executor's narrow door to the coordinator: the node-scoped job routes, for one worker
 * of one pool. Over HTTP from a host process (tests, a host-run worker), or through the host
 * agent over the guest channel inside a worker microVM, where the agent vouches for the guest.
 */
export interface JobLink {
  /** Up to `limit` jobs, waiting up to `waitMs` for one. */
  claim(limit: number, waitMs: number): Promise<HeldJob[]>;
  /**
   * Succeeds `done` and claims up to `limit` (0: only completes) in one round trip. Each
   * completion is fenced by its own job's token: `lost` names the ones whose lease was gone
   * (nothing was written for them); the others succeeded.
   */
  completeAndClaim(
    done: ReadonlyArray<{ job: HeldJob; result: string }>,
    limit: number,
    waitMs: number,
  ): Promise<{ jobs: HeldJob[]; lost: string[] }>;
  heartbeat(job: HeldJob): Promise<void>;
  complete(job: HeldJob, end: JobEnd): Promise<void>;
  module(job: HeldJob): Promise<Uint8Array>;
  journal(job: HeldJob): Promise<JournalEntry[]>;
  record(
    job: HeldJob,
    call: { seq: number; op: EffectOp; requestHash: string; request: string; idempotent: boolean },
  ): Promise<JournalEntry>;
  markSent(job: HeldJob, seq: number): Promise<JournalEntry>;
  /** `response` undefined for kv_get/kv_set: the coordinator performs them and answers. */
  completeEffect(job: HeldJob, seq: number, response: string | undefined): Promise<JournalEntry>;
  park(job: HeldJob, runAt: string): Promise<void>;
}
