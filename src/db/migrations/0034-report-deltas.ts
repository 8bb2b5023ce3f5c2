import type { Kysely, Migration } from 'kysely';

/**
 * Delta heartbeats (docs/scale.md, "Delta heartbeats"): a node's report remembers which
 * agent run (`report_epoch`) and which of its reports (`report_seq`) it holds, so a delta
 * naming that report as its base can be merged into it in one statement and any other is
 * refused. Null on reports written before, or by agents that send whole reports: no delta
 * merges into those. Frozen once released.
 */
export function reportDeltasMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('node_reports').addColumn('report_epoch', 'text').execute();
      await db.schema.alterTable('node_reports').addColumn('report_seq', 'integer').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('node_reports').dropColumn('report_seq').execute();
      await db.schema.alterTable('node_reports').dropColumn('report_epoch').execute();
    },
  };
}
