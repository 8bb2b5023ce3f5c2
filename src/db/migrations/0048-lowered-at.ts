import type { Kysely, Migration } from 'kysely';

/**
 * When the coordinator last lowered an instance's desired status to warm or sleeping (an
 * operator's `instance warm` or `instance sleep`, the idle policy, memory pressure, a node
 * over its capacity): a wake the node admitted before that, reported again by a restarted
 * agent, leaves the lowering standing (services/wake-report.ts `loweredSince`). Existing rows
 * get null (never lowered since; `pressure_slept_at` still says when pressure or overcommit
 * did). Frozen once released.
 */
export function loweredAtMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').addColumn('lowered_at', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').dropColumn('lowered_at').execute();
    },
  };
}
