import type { Kysely, Selectable } from 'kysely';
import { AlreadyExistsError, NotFoundError } from '../../core/errors.ts';
import { jobStates } from '../../core/jobs/job.ts';
import type { Job, JobState } from '../../core/jobs/job.ts';
import type { JobFilter, JobRepo } from '../../ports/job-store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import { oneOf } from '../row-values.ts';
import type { Database, JobsTable } from '../schema.ts';

type JobRow = Selectable<JobsTable>;

export class KyselyJobRepo implements JobRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(job: Job): Promise<{ job: Job; created: boolean }> {
    const result = await this.tryInsert(job);
    if (result.numInsertedOrUpdatedRows === 1n) return { job, created: true };
    // Only a job with the same key makes the insert a no-op: any other conflict throws.
    const existing = await this.findByKey(job.tenantId, job.idempotencyKey ?? '');
    if (existing === undefined) {
      throw new NotFoundError('job with idempotency key', job.idempotencyKey ?? '');
    }
    return { job: existing, created: false };
  }

  private async tryInsert(job: Job) {
    try {
      return await this.db
        .insertInto('jobs')
        .values(toRow(job))
        .onConflict((oc) => oc.columns(['tenant_id', 'idempotency_key']).doNothing())
        .executeTakeFirst();
    } catch (error) {
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'jobs_pkey',
            columns: ['id'],
            error: () => new AlreadyExistsError('job', job.id),
          },
        ],
        foreignKey: () =>
          new NotFoundError(
            'job module',
            `${job.tenantId}/${job.moduleSha256}`,
            'store the module before the job that runs it (or the tenant does not exist)',
          ),
      });
    }
  }

  async get(id: string): Promise<Job | undefined> {
    const row = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async findByKey(tenantId: string, idempotencyKey: string): Promise<Job | undefined> {
    const row = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(filter: JobFilter): Promise<Job[]> {
    let query = this.db.selectFrom('jobs').selectAll();
    if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
    if (filter.poolId !== undefined) query = query.where('pool_id', '=', filter.poolId);
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    const before = filter.before;
    if (before !== undefined) {
      query = query.where((eb) =>
        eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(before.createdAt, before.id)),
      );
    }
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit)
      .execute();
    return rows.map(fromRow);
  }

  async tally(): Promise<
    Array<{ tenantId: string; poolId: string; state: JobState; count: number }>
  > {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['tenant_id', 'pool_id', 'state'])
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .groupBy(['tenant_id', 'pool_id', 'state'])
      .execute();
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      poolId: r.pool_id,
      state: oneOf(jobStates, r.state, 'jobs.state'),
      // Postgres answers count(*) as a bigint, which pg hands over as a string.
      count: Number(r.count),
    }));
  }
}

export function toRow(job: Job): JobRow {
  return {
    id: job.id,
    tenant_id: job.tenantId,
    pool_id: job.poolId,
    module_sha256: job.moduleSha256,
    input: job.input,
    state: job.state,
    priority: job.priority,
    attempts: job.attempts,
    failed_attempts: job.failedAttempts,
    lost_attempts: job.lostAttempts,
    max_attempts: job.maxAttempts,
    run_at: job.runAt,
    lease_token: job.leaseToken,
    lease_expires_at: job.leaseExpiresAt,
    worker: job.worker,
    timeout_secs: job.timeoutSecs,
    started_at: job.startedAt,
    idempotency_key: job.idempotencyKey,
    retry_of: job.retryOf,
    result: job.result,
    error_code: job.errorCode,
    error: job.error,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    finished_at: job.finishedAt,
    version: job.version,
  };
}

export function fromRow(r: JobRow): Job {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    moduleSha256: r.module_sha256,
    input: r.input,
    state: oneOf(jobStates, r.state, 'jobs.state'),
    priority: r.priority,
    attempts: r.attempts,
    failedAttempts: r.failed_attempts,
    lostAttempts: r.lost_attempts,
    maxAttempts: r.max_attempts,
    runAt: r.run_at,
    leaseToken: r.lease_token,
    leaseExpiresAt: r.lease_expires_at,
    worker: r.worker,
    timeoutSecs: r.timeout_secs,
    startedAt: r.started_at,
    idempotencyKey: r.idempotency_key,
    retryOf: r.retry_of,
    result: r.result,
    errorCode: r.error_code,
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    version: r.version,
  };
}
