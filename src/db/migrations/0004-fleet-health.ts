import type { Kysely, Migration } from 'kysely';

/**
 * What the fleet loop learns from its nodes: a node's underlay address (VXLAN peers) and the
 * usage it last reported with its heartbeat; per instance, when its observed status last
 * changed and when it was last seen active (the sleep policy picks the coldest first).
 * Frozen once released.
 */
export function fleetHealthMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('nodes').addColumn('underlay_ip', 'text').execute();
      await db.schema.alterTable('nodes').addColumn('usage', 'text').execute();
      await db.schema.alterTable('instances').addColumn('status_since', 'text').execute();
      await db.schema.alterTable('instances').addColumn('last_active_at', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').dropColumn('last_active_at').execute();
      await db.schema.alterTable('instances').dropColumn('status_since').execute();
      await db.schema.alterTable('nodes').dropColumn('usage').execute();
      await db.schema.alterTable('nodes').dropColumn('underlay_ip').execute();
    },
  };
}
