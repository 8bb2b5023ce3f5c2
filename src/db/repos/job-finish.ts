import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import { ValidationError } from '../../core/errors.ts';
import type { Job } from '../../core/jobs/job.ts';
import type { ClaimRequest, CompletionOutcome, LeaseCompletion } from '../../ports/job-store.ts';
import type { Database, JobsTable } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';
import { claimCtes, claimPostgres, claimSqlite, leaseSet, sortClaimed } from './job-claim.ts';
import { fromRow } from './job-repo.ts';

/** Completions per statement: three parameters each, far below both databases' limits. */
const CHUNK = 500;

/**
 * Batched fenced completion. One UPDATE joins the jobs to a VALUES list of (id, token, result)
 * and moves only the rows still running under that very token with an unexpired lease, the
 * same fence as a single succeed: a stale token in the batch matches no row and is reported
 * lost alone, the others succeed. Only ids come back (the worker already has its jobs).
 */
export async function succeedMany(
  db: Kysely<Database>,
  completions: readonly LeaseCompletion[],
  at: string,
  heldBy?: string,
): Promise<CompletionOutcome> {
  requireDistinct(completions);
  const done = new Set<string>();
  for (let i = 0; i < completions.length; i += CHUNK) {
    const chunk = completions.slice(i, i + CHUNK);
    const result = await sql<{ id: string }>`
      with ${doneValues(chunk)} ${finishUpdate(at, heldBy)}`.execute(db);
    for (const row of result.rows) done.add(row.id);
  }
  return outcome(completions, done);
}

/**
 * Completes the last batch and claims the next in one round trip. Postgres without a quota:
 * one statement whose CTEs finish the old leases and lease new rows (disjoint rows: the ones
 * finished are running, the ones claimed queued). With a quota the claim must count the
 * finished jobs as gone, so both run in one transaction, in order. SQLite: one IMMEDIATE
 * transaction, so one commit instead of two. With `heldBy`, a completion also needs the job
 * leased to that worker (`<node>/<instance>`); one leased to another is reported lost.
 */
export async function succeedAndClaim(
  db: Kysely<Database>,
  completions: readonly LeaseCompletion[],
  request: ClaimRequest,
  heldBy?: string,
): Promise<CompletionOutcome & { jobs: Job[] }> {
  requireDistinct(completions);
  if (completions.length === 0)
    return { succeeded: [], lost: [], jobs: await claimIn(db, request) };
  const oneStatement =
    dialectOf(db) === 'postgres' &&
    request.maxRunningPerTenant === undefined &&
    completions.length <= CHUNK &&
    request.limit > 0;
  if (oneStatement) return finishAndClaimPostgres(db, completions, request, heldBy);
  const step = async (trx: Kysely<Database>) => {
    const finished = await succeedMany(trx, completions, request.at, heldBy);
    const jobs = await claimIn(trx, request);
    return { ...finished, jobs };
  };
  return db.isTransaction ? step(db) : db.transaction().execute(step);
}

function claimIn(db: Kysely<Database>, request: ClaimRequest): Promise<Job[]> {
  if (request.limit < 1) return Promise.resolve([]);
  return dialectOf(db) === 'postgres' ? claimPostgres(db, request) : claimSqlite(db, request);
}

type ClaimedRow = Selectable<JobsTable> & { finished_ids: string[] | null };

async function finishAndClaimPostgres(
  db: Kysely<Database>,
  completions: readonly LeaseCompletion[],
  r: ClaimRequest,
  heldBy: string | undefined,
): Promise<CompletionOutcome & { jobs: Job[] }> {
  // The aggregate always yields one row, so the finished ids come back even when nothing
  // was claimed (then the claimed columns are null).
  const result = await sql<ClaimedRow>`
    with ${doneValues(completions)}, finished as (${finishUpdate(r.at, heldBy)}), ${claimCtes(r)},
    claimed as (
      update jobs set ${leaseSet(r)}
      from chosen where jobs.id = chosen.id
      returning jobs.*)
    select f.finished_ids, c.*
    from (select array_agg(id) as finished_ids from finished) f
    left join claimed c on true`.execute(db);
  const done = new Set(result.rows[0]?.finished_ids ?? []);
  const jobs = result.rows.filter((row) => row.id !== null).map(fromRow);
  return { ...outcome(completions, done), jobs: sortClaimed(jobs) };
}

/** The CTE `done(id, token, result)`: the batch as rows. */
function doneValues(completions: readonly LeaseCompletion[]): RawBuilder<unknown> {
  const values = completions.map((c) => sql`(${c.id}, ${c.token}, ${c.result})`);
  return sql`done(id, token, result) as (values ${sql.join(values)})`;
}

/**
 * Moves the rows of `done` still leased by their own token (and, with `heldBy`, to that
 * worker) to succeeded; returns their ids.
 */
function finishUpdate(at: string, heldBy: string | undefined): RawBuilder<unknown> {
  const holder = heldBy === undefined ? sql`` : sql` and jobs.worker = ${heldBy}`;
  return sql`update jobs set state = 'succeeded', result = done.result, finished_at = ${at},
      lease_token = null, lease_expires_at = null, worker = null, updated_at = ${at},
      version = jobs.version + 1
    from done
    where jobs.id = done.id and jobs.lease_token = done.token
      and jobs.state = 'running' and jobs.lease_expires_at > ${at}${holder}
    returning jobs.id`;
}

/** Each job once per batch: which of two tokens for one job won could not be told apart. */
function requireDistinct(completions: readonly LeaseCompletion[]): void {
  const ids = new Set(completions.map((c) => c.id));
  if (ids.size === completions.length) return;
  const problem = 'a batch of completions names a job more than once';
  throw new ValidationError(problem, [problem]);
}

function outcome(completions: readonly LeaseCompletion[], done: Set<string>): CompletionOutcome {
  const succeeded: string[] = [];
  const lost: string[] = [];
  for (const { id } of completions) (done.has(id) ? succeeded : lost).push(id);
  return { succeeded, lost };
}
