import type { Kysely, Migration } from 'kysely';

/**
 * Pool image sources and what `mvm pool build` records. A pool's source is `image` (an OCI
 * ref) or `flake`+`profile`, or neither (the dev image): the old NOT NULL flake and profile
 * columns stay (SQLite cannot relax them) and hold '' for "none". Existing pools keep the flake
 * and profile they were created with. Revisions are kept per pool (the same content in two
 * pools is two rows with one id); builds are the runs, with how each went. Both go with their
 * pool (foreign keys, restrict: the services delete them first). Frozen once released.
 */
export function revisionsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('pools').addColumn('image', 'text').execute();
      await db.schema
        .createTable('revisions')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('log', 'text')
        .addColumn('built_by', 'text', (c) => c.notNull())
        .addColumn('build_ms', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('revisions_pkey', ['tenant_id', 'pool_id', 'id'])
        .addForeignKeyConstraint(
          'revisions_pool_fkey',
          ['tenant_id', 'pool_id'],
          'pools',
          ['tenant_id', 'id'],
          (fk) => fk.onDelete('restrict'),
        )
        .execute();
      await db.schema.createIndex('revisions_id_idx').on('revisions').column('id').execute();
      await db.schema
        .createTable('builds')
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('revision_id', 'text')
        .addColumn('error', 'text')
        .addColumn('log', 'text')
        .addColumn('started_by', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addPrimaryKeyConstraint('builds_pkey', ['id'])
        .addForeignKeyConstraint(
          'builds_pool_fkey',
          ['tenant_id', 'pool_id'],
          'pools',
          ['tenant_id', 'id'],
          (fk) => fk.onDelete('restrict'),
        )
        .execute();
      await db.schema
        .createIndex('builds_pool_idx')
        .on('builds')
        .columns(['tenant_id', 'pool_id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('builds').ifExists().execute();
      await db.schema.dropTable('revisions').ifExists().execute();
      await db.schema.alterTable('pools').dropColumn('image').execute();
    },
  };
}
