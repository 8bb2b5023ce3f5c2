import type { Kysely, Migration } from 'kysely';

/**
 * Queue-driven pools (issue 14, `mvm pool autoscale --queue`): the least and most workers the
 * job queue keeps awake; both null for a pool the queue does not drive. Frozen once released.
 */
export function queueScaleMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const column of ['queue_min', 'queue_max']) {
        await db.schema.alterTable('pools').addColumn(column, 'integer').execute();
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const column of ['queue_max', 'queue_min']) {
        await db.schema.alterTable('pools').dropColumn(column).execute();
      }
    },
  };
}
