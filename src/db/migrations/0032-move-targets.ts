import type { Kysely, Migration } from 'kysely';

/**
 * The moves under way a node takes part in (`InstanceMoveRepo.activeOn`: source or target)
 * are read for every desired document it is issued (core/move-hold.ts holds a leaving
 * instance asleep on its source). The source side had an index since 0020; with one on the
 * target side too, both dialects answer the `or` from the two indexes rather than by reading
 * every move ever made. Frozen once released.
 */
export function moveTargetsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('instance_moves_target')
        .on('instance_moves')
        .columns(['target_node', 'step'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('instance_moves_target').execute();
    },
  };
}
