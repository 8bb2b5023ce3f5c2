import type { Kysely, Migration } from 'kysely';

/**
 * Tenant secrets, sealed with AES-256-GCM under the coordinator's master key (see
 * coordinator/secrets/): only the key id, the nonce and the ciphertext are stored, never a
 * value. `pool_id` is '' for a secret of the whole tenant, so one key spans both scopes.
 * Frozen once released.
 */
export function secretsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('secrets')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('ciphertext', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('secrets_pkey', ['tenant_id', 'pool_id', 'name'])
        .addForeignKeyConstraint('secrets_tenant_fkey', ['tenant_id'], 'tenants', ['id'], (fk) =>
          fk.onDelete('restrict'),
        )
        .execute();
      await db.schema.createIndex('secrets_key_idx').on('secrets').column('key_id').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('secrets').ifExists().execute();
    },
  };
}
