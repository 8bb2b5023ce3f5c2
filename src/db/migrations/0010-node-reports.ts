import type { Kysely, Migration } from 'kysely';

/**
 * One row per node: the latest disk report and per-instance samples its agent sent with a
 * heartbeat (JSON, as the contract's node-report.ts shapes them). Apart from the nodes table
 * so placement, which reads every node often, never reads these. Frozen once released.
 */
export function nodeReportsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('node_reports')
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('reported_at', 'text', (c) => c.notNull())
        .addColumn('disk', 'text')
        .addColumn('instances', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('node_reports_pkey', ['node_id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('node_reports').ifExists().execute();
    },
  };
}
