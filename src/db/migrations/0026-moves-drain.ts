import type { Kysely, Migration } from 'kysely';

/**
 * Moves and drains (issue 16):
 * - `instance_moves.restore`: the status a moved instance is brought back to on its target,
 *   `running` or `warm` (a drained warm instance comes back warm); null when it keeps its
 *   desired status (a sleeping or stopped one). Rows written before this carry null and read
 *   back as `running` when `wake` is set, as before.
 * - `nodes.lost_from`: the status a node had when it was declared lost (`ready` or
 *   `cordoned`), so a cordoned node that fell silent comes back cordoned when it heartbeats
 *   again; null for a node never lost.
 * Frozen once released.
 */
export function movesDrainMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instance_moves').addColumn('restore', 'text').execute();
      await db.schema.alterTable('nodes').addColumn('lost_from', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('nodes').dropColumn('lost_from').execute();
      await db.schema.alterTable('instance_moves').dropColumn('restore').execute();
    },
  };
}
