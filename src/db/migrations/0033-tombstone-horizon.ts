import type { Kysely, Migration } from 'kysely';

/**
 * Instance tombstones are pruned past a retention (docs/api.md, "Watching instances"): one
 * row holds the horizon, the lowest change stamp whose tombstones are all still kept. A watch
 * that asks to resume from below it may have missed deletions, so it is answered `reset` and
 * the whole list. The horizon only grows. Rows written before start at 0 (nothing pruned).
 *
 * Frozen once released.
 */
export function tombstoneHorizonMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('instance_change_horizon')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('horizon', 'bigint', (c) => c.notNull())
        .addColumn('pruned_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('instance_tombstones_deleted_idx')
        .on('instance_tombstones')
        .column('deleted_at')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('instance_tombstones_deleted_idx').execute();
      await db.schema.dropTable('instance_change_horizon').execute();
    },
  };
}
