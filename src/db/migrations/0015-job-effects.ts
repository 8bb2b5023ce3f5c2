import type { Kysely, Migration } from 'kysely';

/**
 * The durable effect journal (issue 14, docs/jobs.md "Durable execution"): one row per
 * `mvm.call` of a job, keyed by its sequence number, and the tenants' job KV that kv_get and
 * kv_set reach. A KV write and the journal entry that records it commit in one transaction,
 * so replay never applies it twice. Both cascade with their job or tenant. Frozen once
 * released.
 */
export function jobEffectsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('job_effects')
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('op', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('idempotent', 'integer', (c) => c.notNull())
        .addColumn('response', 'text')
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('recorded_at', 'text', (c) => c.notNull())
        .addColumn('completed_at', 'text')
        .addPrimaryKeyConstraint('job_effects_pkey', ['job_id', 'seq'])
        .addForeignKeyConstraint('job_effects_job_fkey', ['job_id'], 'jobs', ['id'], (fk) =>
          fk.onDelete('cascade'),
        )
        .execute();
      await db.schema
        .createTable('job_kv')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('job_kv_pkey', ['tenant_id', 'key'])
        .addForeignKeyConstraint('job_kv_tenant_fkey', ['tenant_id'], 'tenants', ['id'], (fk) =>
          fk.onDelete('cascade'),
        )
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('job_kv').ifExists().execute();
      await db.schema.dropTable('job_effects').ifExists().execute();
    },
  };
}
