import type { Kysely, Migration } from 'kysely';

/**
 * Rollouts remember the revision the pool ran before `from` (issue 12): a rollout that turned
 * back leaves the pool on `from`, and `mvm pool rollback` then returns it one step further,
 * to the revision before. Null when no finished rollout brought the pool to `from`. Frozen
 * once released.
 */
export function rolloutPreviousMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('rollouts').addColumn('previous_revision', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('rollouts').dropColumn('previous_revision').execute();
    },
  };
}
