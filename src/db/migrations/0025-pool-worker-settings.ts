import type { Kysely, Migration } from 'kysely';

/**
 * Jobs (issue 14), per-pool worker settings: how long a queue-driven pool's queue must stay
 * empty before the workers the queue added go again (`mvm pool autoscale --queue
 * --shrink-after S`; null: the coordinator's default, 600 s). Frozen once released.
 */
export function poolWorkerSettingsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('pools').addColumn('queue_shrink_after_secs', 'integer').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('pools').dropColumn('queue_shrink_after_secs').execute();
    },
  };
}
