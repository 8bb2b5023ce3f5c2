import type { Kysely, Migration } from 'kysely';

/**
 * A pool's config files (the current version only; each change bumps it) and a tenant's
 * egress switch. Existing tenants keep egress off, as every node had it. Frozen once released.
 */
export function poolConfigEgressMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('pool_configs')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('files', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('pool_configs_pkey', ['tenant_id', 'pool_id'])
        .addForeignKeyConstraint(
          'pool_configs_pool_fkey',
          ['tenant_id', 'pool_id'],
          'pools',
          ['tenant_id', 'id'],
          (fk) => fk.onDelete('restrict'),
        )
        .execute();
      await db.schema
        .alterTable('tenants')
        .addColumn('egress', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('tenants').dropColumn('egress').execute();
      await db.schema.dropTable('pool_configs').ifExists().execute();
    },
  };
}
