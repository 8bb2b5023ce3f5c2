import type { Kysely, Migration } from 'kysely';

/**
 * An instance asked to sleep with force: its node snapshots it even while its guest reports
 * work in flight (a plain sleep of a busy guest is refused and retried). Cleared by any other
 * change of its desired status. Existing rows get 0 (not forced). Frozen once released.
 */
export function instanceSleepForceMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('instances')
        .addColumn('sleep_forced', 'integer', (col) => col.notNull().defaultTo(0))
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').dropColumn('sleep_forced').execute();
    },
  };
}
