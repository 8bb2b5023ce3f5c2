import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Moves of sleeping instances between nodes (issue 16, core/instance-move.ts): one record per
 * move, its step, the bundle's parts and what the target holds of each. At most one move per
 * instance is under way (a partial unique index, on both dialects). No foreign key to
 * instances: a finished move's record outlives the instance as its history. Frozen once
 * released.
 */
export function instanceMovesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('instance_moves')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('source_node', 'text', (c) => c.notNull())
        .addColumn('target_node', 'text', (c) => c.notNull())
        .addColumn('step', 'text', (c) => c.notNull())
        .addColumn('parts', 'text')
        .addColumn('received', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('wake', 'integer', (c) => c.notNull())
        .addColumn('drain_of', 'text')
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('instance_moves_one_active')
        .on('instance_moves')
        .columns(['tenant_id', 'pool_id', 'instance_id'])
        .unique()
        .where(sql.ref('step'), 'not in', ['done', 'failed'])
        .execute();
      await db.schema
        .createIndex('instance_moves_source')
        .on('instance_moves')
        .columns(['source_node', 'step'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('instance_moves').ifExists().execute();
    },
  };
}
