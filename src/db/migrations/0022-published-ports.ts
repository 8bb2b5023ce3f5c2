import type { Kysely, Migration } from 'kysely';

/**
 * Published ports and sleep/wake hooks (issue 13). Pools: `published_ports`, a JSON array of
 * {hostPort, guestPort}, and `hooks`, a JSON object of guest argvs. `published_ports` the
 * table holds one row per host port in use, its primary key the host port: two pools (of any
 * tenants) can never hold one host port, even when their writes race, so no node can be asked
 * to forward one port to two pools. Rows go with their pool (ON DELETE CASCADE). Frozen once
 * released.
 */
export function publishedPortsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('pools')
        .addColumn('published_ports', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await db.schema
        .alterTable('pools')
        .addColumn('hooks', 'text', (c) => c.notNull().defaultTo('{}'))
        .execute();
      await db.schema
        .createTable('published_ports')
        .addColumn('host_port', 'integer', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('guest_port', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('published_ports_pkey', ['host_port'])
        .addForeignKeyConstraint(
          'published_ports_pool_fkey',
          ['tenant_id', 'pool_id'],
          'pools',
          ['tenant_id', 'id'],
          (fk) => fk.onDelete('cascade'),
        )
        .execute();
      await db.schema
        .createIndex('published_ports_pool_idx')
        .on('published_ports')
        .columns(['tenant_id', 'pool_id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('published_ports').execute();
      for (const column of ['hooks', 'published_ports']) {
        await db.schema.alterTable('pools').dropColumn(column).execute();
      }
    },
  };
}
