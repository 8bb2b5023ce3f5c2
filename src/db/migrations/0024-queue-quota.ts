import type { Kysely, Migration } from 'kysely';

/**
 * Jobs (issue 14): a tenant's quota of running jobs, enforced at claim (null: no limit of its
 * own), and how many workers of a queue-driven pool the queue added (so it removes those again,
 * and no more, once the queue stays empty). Frozen once released.
 */
export function queueQuotaMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('tenants').addColumn('max_running_jobs', 'integer').execute();
      await db.schema
        .alterTable('pools')
        .addColumn('queue_added', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('pools').dropColumn('queue_added').execute();
      await db.schema.alterTable('tenants').dropColumn('max_running_jobs').execute();
    },
  };
}
