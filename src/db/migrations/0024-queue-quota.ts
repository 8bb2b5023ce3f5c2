import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Jobs (issue 14): a tenant's quota of running jobs, enforced at claim (null: no limit of its
 * own); how many workers of a queue-driven pool the queue added (so it removes those again,
 * and no more, once the queue stays empty); and the claim index in the claim's whole order.
 * The claim orders by `priority desc, run_at, id`: without `id` in the index Postgres read
 * every queued row of the pool and sorted them on each claim (a seq scan and a sort of 5,000
 * rows, 30 ms, for a claim of one); with it, a claim reads the head of the index. Frozen once
 * released.
 */
export function queueQuotaMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('tenants').addColumn('max_running_jobs', 'integer').execute();
      await db.schema
        .alterTable('pools')
        .addColumn('queue_added', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.dropIndex('jobs_claim_idx').execute();
      await claimIndex(db, ['pool_id', 'priority desc', 'run_at', 'id']);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('jobs_claim_idx').execute();
      await claimIndex(db, ['pool_id', 'priority desc', 'run_at']);
      await db.schema.alterTable('pools').dropColumn('queue_added').execute();
      await db.schema.alterTable('tenants').dropColumn('max_running_jobs').execute();
    },
  };
}

async function claimIndex(db: Kysely<unknown>, columns: string[]): Promise<void> {
  await db.schema
    .createIndex('jobs_claim_idx')
    .on('jobs')
    .columns(columns)
    .where(sql.ref('state'), '=', 'queued')
    .execute();
}
