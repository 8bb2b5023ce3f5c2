import type { Kysely, Migration } from 'kysely';

/**
 * Instance changes, for the node and for watchers (issue 17, items 2 and 6):
 *
 * - Request ids as far as the node (docs/api.md, "Request ids"): each instance keeps the id
 *   of the last request that changed what its node's document says of it (created, desired
 *   status, placement, pinned revision). The document carries it per instance, so the agent
 *   does that instance's work under it and hands it to the guest agent. Null on rows written
 *   before, or by work no request started (the scheduler's own passes keep the id they find).
 * - A change index (docs/api.md, "Watching instances"): every write of an instance row stamps
 *   `change_seq` (on Postgres the writing transaction's id, on SQLite one more than any
 *   stamp so far), and a deleted row leaves a tombstone with its last state, so a watch
 *   reads only the rows changed since its cursor and a reconnect resumes from it. Existing
 *   rows start at 0.
 *
 * Frozen once released.
 */
export function instanceChangesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').addColumn('last_request_id', 'text').execute();
      await db.schema
        .alterTable('instances')
        .addColumn('change_seq', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex('instances_change_idx')
        .on('instances')
        .column('change_seq')
        .execute();
      await db.schema
        .createIndex('instances_tenant_change_idx')
        .on('instances')
        .columns(['tenant_id', 'change_seq'])
        .execute();
      await db.schema
        .createTable('instance_tombstones')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('change_seq', 'bigint', (c) => c.notNull())
        .addColumn('deleted_at', 'text', (c) => c.notNull())
        .addColumn('item', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('instance_tombstones_pkey', [
          'change_seq',
          'tenant_id',
          'pool_id',
          'id',
        ])
        .execute();
      await db.schema
        .createIndex('instance_tombstones_tenant_idx')
        .on('instance_tombstones')
        .columns(['tenant_id', 'change_seq'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('instance_tombstones').execute();
      await db.schema.dropIndex('instances_tenant_change_idx').execute();
      await db.schema.dropIndex('instances_change_idx').execute();
      await db.schema.alterTable('instances').dropColumn('change_seq').execute();
      await db.schema.alterTable('instances').dropColumn('last_request_id').execute();
    },
  };
}
