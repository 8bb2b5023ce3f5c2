import type { Kysely, Migration } from 'kysely';

/**
 * Idle policy and wake-on-connect (issue 16). Pools: how many seconds of idleness send an
 * instance warm, then to sleep (0 = off, which is how existing pools behaved), and the TCP
 * ports its service listens on (a JSON array; a connection to one of them wakes a sleeping
 * instance). Instances: the slot (`running` or `warm`) an instance holds while the idle policy
 * keeps it lower, so re-materializing the pool neither wakes it nor starts another in its
 * place; null when it is where its slot puts it. Frozen once released.
 */
export function idlePolicyMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const column of ['idle_warm_after_secs', 'idle_sleep_after_secs']) {
        await db.schema
          .alterTable('pools')
          .addColumn(column, 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      }
      await db.schema
        .alterTable('pools')
        .addColumn('service_ports', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await db.schema.alterTable('instances').addColumn('idle_slot', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').dropColumn('idle_slot').execute();
      for (const column of ['service_ports', 'idle_sleep_after_secs', 'idle_warm_after_secs']) {
        await db.schema.alterTable('pools').dropColumn(column).execute();
      }
    },
  };
}
