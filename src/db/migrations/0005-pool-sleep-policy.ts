import type { Kysely, Migration } from 'kysely';

/**
 * The pool's sleep policy: how many seconds an instance stays running, and then warm, before
 * a scale-down may take it lower. Existing pools get 0 (no minimum), which is how they
 * behaved before. Frozen once released.
 */
export function poolSleepPolicyMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const column of ['min_running_secs', 'min_warm_secs']) {
        await db.schema
          .alterTable('pools')
          .addColumn(column, 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('pools').dropColumn('min_warm_secs').execute();
      await db.schema.alterTable('pools').dropColumn('min_running_secs').execute();
    },
  };
}
