import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import type { Job } from '../../core/jobs/job.ts';
import type { ClaimRequest } from '../../ports/job-store.ts';
import type { Database, JobsTable } from '../schema.ts';
import { fromRow } from './job-repo.ts';

/**
 * With a quota, a claim looks at more queued rows than it hands out, so jobs of a tenant at
 * its limit do not hide the next tenant's. Tenants already at the limit are excluded outright;
 * this only bounds how far one batch looks past a tenant that fills up within it.
 */
const QUOTA_SCAN_FACTOR = 8;

/** Serialises quota-bound claims across replicas: the count and the claim must be one step. */
const QUOTA_LOCK = 'jobs:claim-quota';

/**
 * Postgres: one statement. `FOR UPDATE SKIP LOCKED` takes due queued rows no other claimer
 * holds, in priority order, and the UPDATE leases them; a row another claimer leased between
 * this statement's snapshot and its lock is re-checked against `state = 'queued'` and dropped.
 * With a per-tenant quota the running counts must not move between the check and the claim,
 * so quota-bound claims first take one transaction-scoped advisory lock (claims without a
 * quota never wait on it).
 */
export async function claimPostgres(db: Kysely<Database>, request: ClaimRequest): Promise<Job[]> {
  if (request.maxRunningPerTenant === undefined) return sortClaimed(await runClaim(db, request));
  const claim = async (trx: Kysely<Database>) => {
    await sql`select pg_advisory_xact_lock(hashtext(${QUOTA_LOCK}))`.execute(trx);
    return runClaim(trx, request);
  };
  const rows = db.isTransaction ? await claim(db) : await db.transaction().execute(claim);
  return sortClaimed(rows);
}

async function runClaim(db: Kysely<Database>, r: ClaimRequest): Promise<Job[]> {
  const result = await sql<Selectable<JobsTable>>`
    with ${claimCtes(r)}
    update jobs set ${leaseSet(r)}
    from chosen where jobs.id = chosen.id
    returning jobs.*`.execute(db);
  return result.rows.map(fromRow);
}

/** The CTEs `locked` (due rows this claim holds) and `chosen` (the ones it leases). */
export function claimCtes(r: ClaimRequest): RawBuilder<unknown> {
  const max = r.maxRunningPerTenant;
  const scan = max === undefined ? r.limit : r.limit * QUOTA_SCAN_FACTOR;
  const filters: RawBuilder<unknown>[] = [sql`state = 'queued'`, sql`run_at <= ${r.at}`];
  if (r.tenantId !== undefined) filters.push(sql`tenant_id = ${r.tenantId}`);
  if (r.poolId !== undefined) filters.push(sql`pool_id = ${r.poolId}`);
  if (max !== undefined) {
    filters.push(sql`tenant_id not in (select tenant_id from jobs where state = 'running'
      group by tenant_id having count(*) >= ${max})`);
  }
  if (r.instanceId !== undefined) filters.push(sql`exists (select 1 from claimer)`);
  const chosen =
    max === undefined
      ? sql`select id from locked`
      : sql`select id from (
          select l.*, row_number() over (
            partition by l.tenant_id order by l.priority desc, l.run_at, l.id) as rn
          from locked l) ranked
        where rn + (select count(*) from jobs r
          where r.tenant_id = ranked.tenant_id and r.state = 'running') <= ${max}
        order by priority desc, run_at, id
        limit ${r.limit}`;
  // FOR KEY SHARE does not hold up the agents' status writes, but waits for a shrink's
  // FOR UPDATE and then re-reads the row: a worker the shrink stopped no longer qualifies.
  const claimer =
    r.instanceId === undefined
      ? sql``
      : sql`claimer as (
      select 1 from instances
      where tenant_id = ${r.tenantId ?? ''} and pool_id = ${r.poolId ?? ''}
        and id = ${r.instanceId} and desired_status = 'running'
      for key share
    ), `;
  return sql`${claimer}locked as (
      select id, tenant_id, priority, run_at from jobs
      where ${sql.join(filters, sql` and `)}
      order by priority desc, run_at, id
      limit ${scan}
      for update skip locked
    ), chosen as (${chosen})`;
}

export function leaseSet(r: ClaimRequest): RawBuilder<unknown> {
  const expires = new Date(Date.parse(r.at) + r.leaseMs).toISOString();
  return sql`state = 'running', attempts = attempts + 1, lease_token = ${r.token},
    lease_expires_at = ${expires}, worker = ${r.worker}, started_at = ${r.at},
    updated_at = ${r.at}, version = version + 1`;
}

/**
 * SQLite: inside a store transaction, which begins IMMEDIATE (sqlite-immediate.ts), so it
 * holds the database's one write lock from its first read: the candidates read, the quota
 * counted and the rows leased are one step no other connection or process can interleave.
 */
export async function claimSqlite(db: Kysely<Database>, request: ClaimRequest): Promise<Job[]> {
  const claim = (trx: Kysely<Database>) => claimLocked(trx, request);
  return sortClaimed(db.isTransaction ? await claim(db) : await db.transaction().execute(claim));
}

async function claimLocked(db: Kysely<Database>, r: ClaimRequest): Promise<Job[]> {
  if (r.instanceId !== undefined && !(await claimerRunning(db, r))) return [];
  const running = r.maxRunningPerTenant === undefined ? new Map() : await runningByTenant(db);
  let query = db
    .selectFrom('jobs')
    .select(['id', 'tenant_id'])
    .where('state', '=', 'queued')
    .where('run_at', '<=', r.at);
  if (r.tenantId !== undefined) query = query.where('tenant_id', '=', r.tenantId);
  if (r.poolId !== undefined) query = query.where('pool_id', '=', r.poolId);
  const max = r.maxRunningPerTenant;
  if (max !== undefined) {
    const busy = [...running].filter(([, n]) => n >= max).map(([tenant]) => tenant);
    if (busy.length > 0) query = query.where('tenant_id', 'not in', busy);
  }
  const candidates = await query
    .orderBy('priority', 'desc')
    .orderBy('run_at')
    .orderBy('id')
    .limit(max === undefined ? r.limit : r.limit * QUOTA_SCAN_FACTOR)
    .execute();
  const ids = withinQuota(candidates, running, max).slice(0, r.limit);
  if (ids.length === 0) return [];
  const result = await sql<Selectable<JobsTable>>`
    update jobs set ${leaseSet(r)}
    where state = 'queued' and id in (${sql.join(ids)})
    returning *`.execute(db);
  return result.rows.map(fromRow);
}

/** SQLite: the write lock already orders this read against a shrink's transaction. */
async function claimerRunning(db: Kysely<Database>, r: ClaimRequest): Promise<boolean> {
  const row = await db
    .selectFrom('instances')
    .select('desired_status')
    .where('tenant_id', '=', r.tenantId ?? '')
    .where('pool_id', '=', r.poolId ?? '')
    .where('id', '=', r.instanceId ?? '')
    .executeTakeFirst();
  return row?.desired_status === 'running';
}

async function runningByTenant(db: Kysely<Database>): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('jobs')
    .select((eb) => ['tenant_id', eb.fn.countAll<number>().as('n')])
    .where('state', '=', 'running')
    .groupBy('tenant_id')
    .execute();
  return new Map(rows.map((row) => [row.tenant_id, Number(row.n)]));
}

function withinQuota(
  candidates: ReadonlyArray<{ id: string; tenant_id: string }>,
  running: Map<string, number>,
  max: number | undefined,
): string[] {
  if (max === undefined) return candidates.map((c) => c.id);
  const counts = new Map(running);
  const ids: string[] = [];
  for (const c of candidates) {
    const n = counts.get(c.tenant_id) ?? 0;
    if (n >= max) continue;
    counts.set(c.tenant_id, n + 1);
    ids.push(c.id);
  }
  return ids;
}

/** RETURNING comes in no particular order; a batch is handed out in claim order. */
export function sortClaimed(jobs: Job[]): Job[] {
  return jobs.sort(
    (a, b) => b.priority - a.priority || a.runAt.localeCompare(b.runAt) || a.id.localeCompare(b.id),
  );
}
