import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import type { SqlDialect } from '../sql-dialect.ts';

/**
 * The job queue (issue 14): WebAssembly modules stored content-addressed per tenant, and jobs
 * that run them. Module bytes live in the store, not in files beside it: on Postgres several
 * coordinator replicas share only the database; a module and the job that needs it are written
 * in one transaction, so no job names a missing module and no crash leaves an orphan file; and
 * a backup of the store is a backup of everything. Modules are capped (MAX_MODULE_BYTES), so
 * rows stay small. Keyed per tenant, never globally: a tenant who learns another's hash cannot
 * run that tenant's module. Deleting a tenant deletes its jobs and modules. Frozen once
 * released.
 */
export function jobsMigration(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await createJobModules(db, dialect);
      await createJobs(db);
      await createJobIndexes(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('jobs').ifExists().execute();
      await db.schema.dropTable('job_modules').ifExists().execute();
    },
  };
}

async function createJobModules(db: Kysely<unknown>, dialect: SqlDialect): Promise<void> {
  await db.schema
    .createTable('job_modules')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('bytes', dialect === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_modules_pkey', ['tenant_id', 'sha256'])
    .addForeignKeyConstraint('job_modules_tenant_fkey', ['tenant_id'], 'tenants', ['id'], (fk) =>
      fk.onDelete('cascade'),
    )
    .execute();
}

async function createJobs(db: Kysely<unknown>): Promise<void> {
  const integer = ['priority', 'attempts', 'failed_attempts', 'lost_attempts', 'max_attempts'];
  let table = db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('pool_id', 'text', (c) => c.notNull())
    .addColumn('module_sha256', 'text', (c) => c.notNull())
    .addColumn('input', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull());
  for (const name of integer) table = table.addColumn(name, 'integer', (c) => c.notNull());
  await table
    .addColumn('run_at', 'text', (c) => c.notNull())
    .addColumn('lease_token', 'text')
    .addColumn('lease_expires_at', 'text')
    .addColumn('worker', 'text')
    .addColumn('timeout_secs', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('idempotency_key', 'text')
    .addColumn('retry_of', 'text')
    .addColumn('result', 'text')
    .addColumn('error_code', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('version', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('jobs_pkey', ['id'])
    // NULL keys never collide (both databases): only jobs submitted with a key are deduplicated.
    .addUniqueConstraint('jobs_idempotency_key', ['tenant_id', 'idempotency_key'])
    .addForeignKeyConstraint('jobs_tenant_fkey', ['tenant_id'], 'tenants', ['id'], (fk) =>
      fk.onDelete('cascade'),
    )
    // NO ACTION (checked at the end of the statement), so a tenant's cascade removes its jobs
    // and modules together while a module stays pinned as long as a job names it.
    .addForeignKeyConstraint('jobs_module_fkey', ['tenant_id', 'module_sha256'], 'job_modules', [
      'tenant_id',
      'sha256',
    ])
    .execute();
}

/** Partial indexes: claims read only queued rows, the sweeper only running ones. */
async function createJobIndexes(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('jobs_claim_idx')
    .on('jobs')
    .columns(['pool_id', 'priority desc', 'run_at'])
    .where(sql.ref('state'), '=', 'queued')
    .execute();
  await db.schema
    .createIndex('jobs_lease_idx')
    .on('jobs')
    .column('lease_expires_at')
    .where(sql.ref('state'), '=', 'running')
    .execute();
  await db.schema
    .createIndex('jobs_tenant_idx')
    .on('jobs')
    .columns(['tenant_id', 'state'])
    .execute();
  await db.schema
    .createIndex('jobs_created_idx')
    .on('jobs')
    .columns(['created_at', 'id'])
    .execute();
}
