import type { Kysely, Migration } from 'kysely';

/**
 * Moves (issue 16): the status a moved instance is brought back to on its target, `running`
 * or `warm` (a drained warm instance comes back warm); null when it keeps its desired status
 * (a sleeping or stopped one). Rows written before this carry null and read back as `running`
 * when `wake` is set, as before. Frozen once released.
 */
export function moveRestoreMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instance_moves').addColumn('restore', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instance_moves').dropColumn('restore').execute();
    },
  };
}
