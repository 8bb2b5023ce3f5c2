import { Migrator } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import { errorMessage, InternalError } from '../../core/errors.ts';

/** Frozen once released: change the schema with a new entry, never by editing one. */
const migrations: Record<string, Migration> = {
  '0001-local-vms': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('local_vms')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('secrets', 'text', (c) => c.notNull())
        .addColumn('config', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('intent', 'text')
        .addColumn('handle', 'text')
        .addColumn('snapshot', 'text')
        .addColumn('failure_reason', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addUniqueConstraint('local_vms_identity', ['tenant_id', 'pool_id', 'instance_id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('local_vms').ifExists().execute();
    },
  },
  // One slot per instance: its VMM's unprivileged uid/gid is a base plus the slot.
  '0002-vm-identities': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('vm_identities')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('slot', 'integer', (c) => c.notNull().unique())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('vm_identities').ifExists().execute();
    },
  },
};

export async function migrateAgentDb<DB>(db: Kysely<DB>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableName: 'agent_migrations',
    migrationLockTableName: 'agent_migrations_lock',
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined || results.some((r) => r.status === 'Error')) {
    const cause = errorMessage(error);
    throw new InternalError(
      `agent database migration failed: ${cause}; fix the cause and restart the agent`,
    );
  }
  return results.map((r) => r.migrationName);
}
