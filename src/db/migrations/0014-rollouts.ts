import type { Kysely, Migration } from 'kysely';

/**
 * Rollouts: one record per pool, the latest (a new rollout replaces a finished one), and the
 * revision a rollout pinned each instance to, with when (its node restarts it on that one).
 * No foreign key to pools: a pool's destroy removes its rollout with its builds. Frozen once
 * released.
 */
export function rolloutsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('rollouts')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('from_revision', 'text', (c) => c.notNull())
        .addColumn('to_revision', 'text', (c) => c.notNull())
        .addColumn('canary', 'integer', (c) => c.notNull())
        .addColumn('max_unavailable', 'integer', (c) => c.notNull())
        .addColumn('include_sleeping', 'integer', (c) => c.notNull())
        .addColumn('ready_timeout_ms', 'integer', (c) => c.notNull())
        .addColumn('canaries_done', 'integer', (c) => c.notNull())
        .addColumn('progress', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('started_by', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('version', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('rollouts_pkey', ['tenant_id', 'pool_id'])
        .execute();
      await db.schema.alterTable('instances').addColumn('pinned_revision', 'text').execute();
      await db.schema.alterTable('instances').addColumn('pinned_at', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').dropColumn('pinned_at').execute();
      await db.schema.alterTable('instances').dropColumn('pinned_revision').execute();
      await db.schema.dropTable('rollouts').ifExists().execute();
    },
  };
}
