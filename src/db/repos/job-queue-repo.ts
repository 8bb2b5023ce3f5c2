import { sql, type Kysely, type Updateable } from 'kysely';
import { NotFoundError } from '../../core/errors.ts';
import type { RetryPolicy } from '../../core/jobs/backoff.ts';
import type { Job } from '../../core/jobs/job.ts';
import {
  applyJobEvent,
  applyJobEventOrThrow,
  expiryOf,
  holdsLease,
  type JobEvent,
} from '../../core/jobs/job-machine.ts';
import type {
  AttemptFailure,
  ClaimRequest,
  CompletionOutcome,
  JobQueue,
  LeaseCompletion,
} from '../../ports/job-store.ts';
import type { Database, JobsTable } from '../schema.ts';
import { JOBS_CHANNEL } from '../job-listener.ts';
import { dialectOf } from '../sql-dialect.ts';
import { claimPostgres, claimSqlite } from './job-claim.ts';
import { succeedAndClaim, succeedMany } from './job-finish.ts';
import { fromRow, toRow } from './job-repo.ts';

/** A write that lost a race re-reads and decides again, this often, before giving up. */
const CAS_ROUNDS = 8;

/**
 * The queue on the store. Claims are set-based statements (job-claim.ts); the hot worker
 * writes (heartbeat, succeed) are single UPDATEs fenced in their WHERE clause by state, lease
 * token and lease expiry, so a worker whose lease ran out is refused even before the sweeper
 * has noticed. Writes whose outcome needs the rules (fail with backoff, expiry, cancel) read
 * the row, ask core/jobs/job-machine.ts, and write back only if the row's version is still the
 * one read (a compare-and-set that also carries the lease token for worker writes).
 */
export class KyselyJobQueue implements JobQueue {
  constructor(private readonly db: Kysely<Database>) {}

  claim(request: ClaimRequest): Promise<Job[]> {
    if (request.limit < 1) return Promise.resolve([]);
    return dialectOf(this.db) === 'postgres'
      ? claimPostgres(this.db, request)
      : claimSqlite(this.db, request);
  }

  async lockClaimers(tenantId: string, poolId: string): Promise<void> {
    // SQLite: the store transaction began IMMEDIATE, so it holds the one write lock already.
    if (dialectOf(this.db) !== 'postgres') return;
    await sql`select id from instances where tenant_id = ${tenantId} and pool_id = ${poolId}
      order by id for update`.execute(this.db);
  }

  async heartbeat(id: string, token: string, at: string, leaseMs: number) {
    return this.fencedUpdate(id, token, at, {
      lease_expires_at: plusMs(at, leaseMs),
    });
  }

  async succeed(id: string, token: string, at: string, result: string) {
    return this.fencedUpdate(id, token, at, {
      state: 'succeeded',
      result,
      finished_at: at,
      lease_token: null,
      lease_expires_at: null,
      worker: null,
    });
  }

  succeedMany(completions: LeaseCompletion[], at: string): Promise<CompletionOutcome> {
    return succeedMany(this.db, completions, at);
  }

  succeedAndClaim(completions: LeaseCompletion[], request: ClaimRequest, heldBy?: string) {
    return succeedAndClaim(this.db, completions, request, heldBy);
  }

  async park(id: string, token: string, at: string, runAt: string) {
    return this.fencedUpdate(id, token, at, {
      state: 'queued',
      run_at: runAt,
      lease_token: null,
      lease_expires_at: null,
      worker: null,
    });
  }

  private async fencedUpdate(
    id: string,
    token: string,
    at: string,
    patch: Updateable<JobsTable>,
  ): Promise<Job | undefined> {
    const row = await this.db
      .updateTable('jobs')
      .set({ ...patch, updated_at: at, version: sql<number>`version + 1` })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('lease_token', '=', token)
      .where('lease_expires_at', '>', at)
      .returningAll()
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async fail(id: string, token: string, failure: AttemptFailure, policy: RetryPolicy) {
    const event: JobEvent = { type: 'fail', token, ...failure };
    for (let round = 0; round < CAS_ROUNDS; round += 1) {
      const job = await this.get(id);
      if (job === undefined || !holdsLease(job, token, failure.at)) return undefined;
      const step = applyJobEvent(job, event, policy);
      if (!step.ok) return undefined;
      if (await this.compareAndSet(job, step.job, token)) return step.job;
    }
    return undefined;
  }

  async sweep(at: string, policy: RetryPolicy, jitter: () => number, limit: number) {
    const swept: Job[] = [];
    for (const candidate of await this.expiredCandidates(at, limit)) {
      const next = await this.decideAndWrite(candidate.id, (job) => {
        if (expiryOf(job, at) === null) return undefined;
        const step = applyJobEvent(job, { type: 'expire', at, jitter: jitter() }, policy);
        return step.ok ? step.job : undefined;
      });
      if (next !== undefined) swept.push(next);
    }
    return swept;
  }

  /** Running jobs whose lease ran out or whose attempt outlived its timeout (core decides). */
  private async expiredCandidates(at: string, limit: number): Promise<Job[]> {
    const pastDeadline =
      dialectOf(this.db) === 'postgres'
        ? sql<boolean>`started_at::timestamptz + timeout_secs * interval '1 second' <= ${at}::timestamptz`
        : sql<boolean>`julianday(started_at) + timeout_secs / 86400.0 <= julianday(${at})`;
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('state', '=', 'running')
      .where((eb) => eb.or([eb('lease_expires_at', '<=', at), pastDeadline]))
      .orderBy('lease_expires_at')
      .limit(limit)
      .execute();
    return rows.map(fromRow);
  }

  async cancel(id: string, at: string): Promise<Job> {
    const next = await this.decideAndWrite(id, (job) =>
      applyJobEventOrThrow(job, { type: 'cancel', at }, { ...noPolicy }),
    );
    if (next === undefined) throw new NotFoundError('job', id);
    return next;
  }

  async announce(tenantId: string, poolId: string): Promise<void> {
    if (dialectOf(this.db) !== 'postgres') return;
    await sql`select pg_notify(${JOBS_CHANNEL}, ${`${tenantId}/${poolId}`})`.execute(this.db);
  }

  async runningCount(tenantId: string): Promise<number> {
    const row = await this.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('state', '=', 'running')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Reads, decides with `decide` (undefined: leave it), writes by CAS; again if it moved. */
  private async decideAndWrite(
    id: string,
    decide: (job: Job) => Job | undefined,
  ): Promise<Job | undefined> {
    for (let round = 0; round < CAS_ROUNDS; round += 1) {
      const job = await this.get(id);
      if (job === undefined) return undefined;
      const next = decide(job);
      if (next === undefined) return undefined;
      if (await this.compareAndSet(job, next)) return next;
    }
    return undefined;
  }

  private async get(id: string): Promise<Job | undefined> {
    const row = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  private async compareAndSet(before: Job, after: Job, token?: string): Promise<boolean> {
    const { id: _id, ...values } = toRow(after);
    let query = this.db
      .updateTable('jobs')
      .set(values)
      .where('id', '=', before.id)
      .where('version', '=', before.version);
    if (token !== undefined) query = query.where('lease_token', '=', token);
    const result = await query.executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }
}

/** Cancelling never retries, so the policy is never read; this keeps the type honest. */
const noPolicy: RetryPolicy = { baseDelayMs: 0, maxDelayMs: 0, maxLostAttempts: 1 };

function plusMs(iso: string, delta: number): string {
  return new Date(Date.parse(iso) + delta).toISOString();
}
