import type { Kysely, Migration } from 'kysely';

/**
 * Marks an instance the scheduler put to sleep to make room under memory pressure, and since
 * when: such an instance still fills its pool's warm slot and goes back to warm once its node
 * has room again. Existing rows get null (not held asleep). Frozen once released.
 */
export function pressureSleepMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').addColumn('pressure_slept_at', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').dropColumn('pressure_slept_at').execute();
    },
  };
}
