import type { Job, JobState } from '../core/jobs/job.ts';
import type { RetryPolicy } from '../core/jobs/backoff.ts';
import type { EffectEntry, EffectOp } from '../core/jobs/effect-journal.ts';

/** A job module as stored: content-addressed per tenant by the sha256 of its bytes. */
export interface JobModule {
  tenantId: string;
  /** Lower-case hex sha256 of `bytes`. */
  sha256: string;
  bytes: Uint8Array;
  createdAt: string;
}

export interface JobModuleRepo {
  /**
   * Stores the module unless the tenant already has one with this hash (the same bytes, by
   * construction). True when this call stored it. Throws NotFoundError for a missing tenant.
   */
  put(module: JobModule): Promise<boolean>;
  get(tenantId: string, sha256: string): Promise<JobModule | undefined>;
}

export interface JobFilter {
  tenantId?: string;
  poolId?: string;
  state?: JobState;
  /** Newest first; at most this many. */
  limit: number;
  /** A page: only jobs older than this one (created earlier, or as early with a lower id). */
  before?: { createdAt: string; id: string };
}

export interface JobRepo {
  /**
   * Inserts a job. When the tenant already has a job with the same idempotency key, inserts
   * nothing and returns that job with `created: false`, whatever else differs (the caller
   * decides whether a differing resubmission is an error). Throws AlreadyExistsError for a
   * duplicate id, NotFoundError when the tenant or the module is missing.
   */
  insert(job: Job): Promise<{ job: Job; created: boolean }>;
  get(id: string): Promise<Job | undefined>;
  findByKey(tenantId: string, idempotencyKey: string): Promise<Job | undefined>;
  list(filter: JobFilter): Promise<Job[]>;
  /** Jobs counted by tenant, pool and state (for metrics). */
  tally(): Promise<Array<{ tenantId: string; poolId: string; state: JobState; count: number }>>;
}

/** One claim: up to `limit` due jobs, leased to `worker` until `at + leaseMs`. */
export interface ClaimRequest {
  worker: string;
  at: string;
  leaseMs: number;
  limit: number;
  /** Only this tenant's jobs, only this pool's (both: one pool of one tenant). */
  tenantId?: string;
  poolId?: string;
  /** Jobs one tenant may have running at once, counted across pools; undefined: no limit. */
  maxRunningPerTenant?: number;
  /**
   * The worker instance of `tenantId`/`poolId` the claim is for: the claim leases nothing
   * unless its desired status is `running`, read under a lock that a shrink's lock on the
   * pool's instances waits for (lockInstancesForShrink), so a claim and a shrink never both
   * go ahead on one worker.
   */
  instanceId?: string;
  /**
   * The fencing token of this claim, random and unguessable. Shared by the jobs of one batch:
   * every worker write names the job and the token, and a job reclaimed later gets another.
   */
  token: string;
}

/** A lease holder's success: the job, the token it holds it by, and its result. */
export interface LeaseCompletion {
  id: string;
  token: string;
  result: string;
}

/**
 * What became of a batch of completions: each is fenced by its own token, so a batch can
 * partly succeed. `lost` are the ones whose lease was gone (another token, expired, cancelled,
 * already finished): those workers must write nothing more for them.
 */
export interface CompletionOutcome {
  succeeded: string[];
  lost: string[];
}

export interface AttemptFailure {
  at: string;
  code: string;
  message: string;
  retryable: boolean;
  /** A draw in [0, 1) for the backoff. */
  jitter: number;
}

/**
 * The queue's statements, each fenced in SQL the way core/jobs/job-machine.ts (the spec) says.
 * Worker writes return undefined when the worker no longer holds the lease (0 rows updated):
 * it must stop and write nothing more.
 */
export interface JobQueue {
  /** Highest priority first, then oldest `run_at`; never hands one job to two claimers. */
  claim(request: ClaimRequest): Promise<Job[]>;
  heartbeat(id: string, token: string, at: string, leaseMs: number): Promise<Job | undefined>;
  succeed(id: string, token: string, at: string, result: string): Promise<Job | undefined>;
  /**
   * Succeeds many leases in one statement, each fenced by its own token and expiry exactly as
   * `succeed` is; the ones refused are reported lost one by one. A batch names each job once
   * (ValidationError otherwise, nothing written).
   */
  succeedMany(completions: LeaseCompletion[], at: string): Promise<CompletionOutcome>;
  /**
   * A worker loop's one round trip: succeeds `completions` (as succeedMany) and claims the
   * next batch (as claim), in one statement on Postgres, one transaction on SQLite. With
   * `heldBy` (`<node>/<instance>`), a completion of a job leased to another worker is lost.
   * A `limit` of 0 only completes.
   */
  succeedAndClaim(
    completions: LeaseCompletion[],
    request: ClaimRequest,
    heldBy?: string,
  ): Promise<CompletionOutcome & { jobs: Job[] }>;
  /**
   * A sleeping job gives its lease back: queued again, due at `runAt`. Not an attempt that
   * failed or was lost; its journal carries it on from where it slept.
   */
  park(id: string, token: string, at: string, runAt: string): Promise<Job | undefined>;
  fail(
    id: string,
    token: string,
    failure: AttemptFailure,
    policy: RetryPolicy,
  ): Promise<Job | undefined>;
  /**
   * Requeues (or kills) running jobs whose lease ran out or whose attempt outlived its
   * timeout, at most `limit` of them; returns them as they now stand.
   */
  sweep(at: string, policy: RetryPolicy, jitter: () => number, limit: number): Promise<Job[]>;
  /** Throws NotFoundError, or IllegalTransitionError for a terminal job. */
  cancel(id: string, at: string): Promise<Job>;
  /**
   * Tells other coordinator replicas that the pool has claimable jobs (Postgres: NOTIFY,
   * delivered when the surrounding transaction commits; SQLite: nothing, one process writes).
   */
  announce(tenantId: string, poolId: string): Promise<void>;
  /**
   * Inside a transaction that will lower or stop workers of the pool: from here until it
   * commits, a claim for one of them (ClaimRequest.instanceId) waits, then sees the new
   * desired status; a claim that got there first has committed its leases, which the
   * transaction's next reads see. Postgres: the pool's instance rows FOR UPDATE; SQLite:
   * nothing (the transaction holds the write lock).
   */
  lockClaimers(tenantId: string, poolId: string): Promise<void>;
  /** How many of the tenant's jobs are running now. */
  runningCount(tenantId: string): Promise<number>;
}

/** Who writes to a job's journal: the lease holder's token, checked at `at` (lease_lost). */
export interface JournalFence {
  jobId: string;
  token: string;
  at: string;
}

export interface RecordEffect {
  seq: number;
  op: EffectOp;
  requestHash: string;
  request: string;
  idempotent: boolean;
}

/**
 * The durable effect journal. Every write is fenced like a worker's queue write: in the same
 * transaction it checks that the job is running under `fence.token` with an unexpired lease
 * (and holds the job's row until commit), and returns undefined when not: the worker must stop.
 * Call inside Store.transaction.
 */
export interface JobJournal {
  entries(jobId: string): Promise<EffectEntry[]>;
  /** Appends the call at its seq, or keeps the same unfinished call; ConflictError otherwise. */
  record(fence: JournalFence, call: RecordEffect): Promise<EffectEntry | undefined>;
  /** Marks an external write as possibly sent (just before sending it). */
  markSent(fence: JournalFence, seq: number): Promise<EffectEntry | undefined>;
  /**
   * Completes entry `seq` with `response`, or for kv_get/kv_set performs it on the tenant's KV
   * and records the store's answer, in this transaction. An already completed entry is answered
   * as it is (a retried request changes nothing).
   */
  complete(
    fence: JournalFence,
    seq: number,
    response: string | undefined,
  ): Promise<EffectEntry | undefined>;
  kvGet(tenantId: string, key: string): Promise<{ value: string; version: number } | undefined>;
}
