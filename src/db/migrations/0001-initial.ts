import type { CreateTableBuilder, Kysely, Migration } from 'kysely';
import type { SqlDialect } from '../sql-dialect.ts';

/**
 * The first schema. Constraint names are explicit because Postgres reports them on violation
 * and the repositories translate them into domain errors (see constraint-error.ts).
 * Frozen once released: change the schema with a new migration, never by editing this one.
 */
export function initialMigration(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await createTenants(db);
      await createPools(db);
      await createInstances(db);
      await createNodes(db);
      await createAuditEvents(db, dialect);
      await createApiTokens(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of [
        'api_tokens',
        'audit_events',
        'nodes',
        'instances',
        'pools',
        'tenants',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}

type Table = CreateTableBuilder<string, string>;

function timestamps(table: Table): Table {
  return table
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull());
}

function integers(table: Table, names: readonly string[]): Table {
  return names.reduce((t, name) => t.addColumn(name, 'integer', (c) => c.notNull()), table);
}

async function createTenants(db: Kysely<unknown>): Promise<void> {
  let table = db.schema
    .createTable('tenants')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('net_id', 'integer', (c) => c.notNull())
    .addColumn('subnet', 'text', (c) => c.notNull())
    .addColumn('gateway', 'text', (c) => c.notNull());
  table = integers(table, [
    'max_vcpus',
    'max_mem_mib',
    'max_running',
    'max_warm',
    'max_pools',
    'max_instances_per_pool',
    'max_disk_gib',
  ]);
  await timestamps(table)
    .addPrimaryKeyConstraint('tenants_pkey', ['id'])
    .addUniqueConstraint('tenants_net_id_key', ['net_id'])
    .addUniqueConstraint('tenants_subnet_key', ['subnet'])
    .execute();
}

async function createPools(db: Kysely<unknown>): Promise<void> {
  let table = db.schema
    .createTable('pools')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('flake', 'text', (c) => c.notNull())
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('revision', 'text');
  table = integers(table, [
    'vcpus',
    'mem_mib',
    'data_disk_mib',
    'desired_running',
    'desired_warm',
    'desired_sleeping',
    'pinned',
    'critical',
  ]);
  await timestamps(table)
    .addPrimaryKeyConstraint('pools_pkey', ['tenant_id', 'id'])
    .addForeignKeyConstraint('pools_tenant_fkey', ['tenant_id'], 'tenants', ['id'], (fk) =>
      fk.onDelete('restrict'),
    )
    .execute();
}

async function createInstances(db: Kysely<unknown>): Promise<void> {
  const table = db.schema
    .createTable('instances')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('pool_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('mac', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('desired_status', 'text', (c) => c.notNull())
    .addColumn('node_id', 'text')
    .addColumn('revision', 'text')
    .addColumn('failure_reason', 'text');
  await timestamps(table)
    .addPrimaryKeyConstraint('instances_pkey', ['tenant_id', 'pool_id', 'id'])
    .addUniqueConstraint('instances_ip_key', ['tenant_id', 'ip'])
    .addUniqueConstraint('instances_mac_key', ['mac'])
    .addForeignKeyConstraint(
      'instances_pool_fkey',
      ['tenant_id', 'pool_id'],
      'pools',
      ['tenant_id', 'id'],
      (fk) => fk.onDelete('restrict'),
    )
    .execute();
  await db.schema.createIndex('instances_node_idx').on('instances').column('node_id').execute();
  await db.schema
    .createIndex('instances_pool_idx')
    .on('instances')
    .columns(['tenant_id', 'pool_id'])
    .execute();
}

async function createNodes(db: Kysely<unknown>): Promise<void> {
  const table = db.schema
    .createTable('nodes')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('arch', 'text', (c) => c.notNull());
  await integers(table, ['vcpus', 'mem_mib', 'disk_gib'])
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('last_heartbeat', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('nodes_pkey', ['id'])
    .execute();
}

async function createAuditEvents(db: Kysely<unknown>, dialect: SqlDialect): Promise<void> {
  // SQLite: INTEGER PRIMARY KEY AUTOINCREMENT never reuses ids; Postgres: a bigint identity.
  const table =
    dialect === 'sqlite'
      ? db.schema
          .createTable('audit_events')
          .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      : db.schema
          .createTable('audit_events')
          .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity());
  await table
    .addColumn('tenant_id', 'text')
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('audit_events_tenant_idx')
    .on('audit_events')
    .columns(['tenant_id', 'id'])
    .execute();
}

async function createApiTokens(db: Kysely<unknown>): Promise<void> {
  // No foreign key to tenants: revoked tokens are kept for the record and must not pin a
  // tenant that is being deleted.
  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text')
    .addPrimaryKeyConstraint('api_tokens_pkey', ['id'])
    .addUniqueConstraint('api_tokens_hash_key', ['hash'])
    .execute();
  await db.schema
    .createIndex('api_tokens_tenant_idx')
    .on('api_tokens')
    .column('tenant_id')
    .execute();
}
