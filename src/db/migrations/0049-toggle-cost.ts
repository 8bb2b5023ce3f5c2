import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialect } from '../sql-dialect.ts';

/**
 * What Postgres writes for a change of an instance's desired status (docs/scale.md, "What
 * Postgres spends per toggle"). No update of an instance is HOT (`change_seq`, indexed, moves
 * with every write), so each writes an entry into every index of `instances`:
 *  - `instances_pool_idx` (tenant_id, pool_id) is the leading part of the primary key
 *    (tenant_id, pool_id, id), which serves every read it served: dropped.
 *  - the allocations trigger (0019) ran on any change of node or desired status, though an
 *    allocation row counts only the live (not destroyed) and the holding (running or warm):
 *    a running ⇄ warm toggle took one from its row and added it back, two statements and a
 *    dead row version per toggle. On Postgres it now runs when the node or one of those two
 *    counts changes, as the node loads' trigger (0037) does; its function is unchanged.
 *    SQLite's trigger (in process, no round trip) is left as it was.
 * Frozen once released.
 */
export function toggleCostMigration(dialect: SqlDialect): Migration {
  const live = (row: string) => `(${row}.desired_status <> 'destroyed')`;
  const holds = (row: string) => `(${row}.desired_status IN ('running', 'warm'))`;
  const counted = [live, holds].map((c) => `${c('OLD')} IS DISTINCT FROM ${c('NEW')}`);
  const narrowed = ['OLD.node_id IS DISTINCT FROM NEW.node_id', ...counted].join(' OR ');
  const before =
    'OLD.node_id IS DISTINCT FROM NEW.node_id OR OLD.desired_status IS DISTINCT FROM NEW.desired_status';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('instances_pool_idx').execute();
      if (dialect === 'postgres') await allocationTrigger(db, narrowed);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect === 'postgres') await allocationTrigger(db, before);
      await db.schema
        .createIndex('instances_pool_idx')
        .on('instances')
        .columns(['tenant_id', 'pool_id'])
        .execute();
    },
  };
}

/** 0019's update trigger on Postgres made again with `when` as its condition. */
async function allocationTrigger(db: Kysely<unknown>, when: string): Promise<void> {
  await sql.raw('DROP TRIGGER instances_alloc_change ON instances').execute(db);
  await sql
    .raw(
      `CREATE TRIGGER instances_alloc_change AFTER UPDATE OF node_id, desired_status ON instances
       FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION mvm_node_allocations()`,
    )
    .execute(db);
}
