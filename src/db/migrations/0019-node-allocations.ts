import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialect } from '../sql-dialect.ts';

/**
 * What each node holds, kept by the store (issue 17): per node, tenant and pool, how many
 * live instances (desired anything but destroyed) are placed there and how many of them hold
 * vCPUs and RAM (desired running or warm). Triggers on `instances` keep it in the same
 * transaction as every insert, delete and change of node or desired status, whichever code
 * path writes, so the scheduler reads per-node rows instead of the whole fleet. An index on
 * pressure_slept_at lets it ask "is anything held asleep?" without a scan. Document marks
 * (core/document-marks.ts) are counters per scope that each change concerning documents bumps,
 * so waiting watchers on every replica find out with one read whether to recompute.
 */
export function nodeAllocationsMigration(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('node_allocations')
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('instances', 'integer', (c) => c.notNull())
        .addColumn('holding', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('node_allocations_pkey', ['node_id', 'tenant_id', 'pool_id'])
        .execute();
      await db.schema
        .createTable('document_marks')
        .addColumn('scope', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('instances_pressure_idx')
        .on('instances')
        .column('pressure_slept_at')
        .execute();
      for (const statement of dialect === 'postgres' ? postgresTriggers : sqliteTriggers) {
        await sql.raw(statement).execute(db);
      }
      await sql
        .raw(
          `INSERT INTO node_allocations (node_id, tenant_id, pool_id, instances, holding)
           SELECT node_id, tenant_id, pool_id, ${LIVE('')}, ${HOLDING('')}
           FROM instances WHERE node_id IS NOT NULL GROUP BY node_id, tenant_id, pool_id`,
        )
        .execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      const drops =
        dialect === 'postgres'
          ? [
              'DROP TRIGGER instances_alloc_change ON instances',
              'DROP TRIGGER instances_alloc_rows ON instances',
              'DROP FUNCTION mvm_node_allocations()',
            ]
          : ['insert', 'delete', 'update'].map((op) => `DROP TRIGGER instances_alloc_${op}`);
      for (const statement of drops) await sql.raw(statement).execute(db);
      await db.schema.dropIndex('instances_pressure_idx').execute();
      await db.schema.dropTable('node_allocations').execute();
      await db.schema.dropTable('document_marks').execute();
    },
  };
}

/** 1 for a live instance, summed over a group when `row` is '' (the backfill). */
const LIVE = (row: string) =>
  row === ''
    ? `SUM(CASE WHEN desired_status <> 'destroyed' THEN 1 ELSE 0 END)`
    : `CASE WHEN ${row}.desired_status <> 'destroyed' THEN 1 ELSE 0 END`;
const HOLDING = (row: string) =>
  row === ''
    ? `SUM(CASE WHEN desired_status IN ('running', 'warm') THEN 1 ELSE 0 END)`
    : `CASE WHEN ${row}.desired_status IN ('running', 'warm') THEN 1 ELSE 0 END`;

const take = (row: string) =>
  `UPDATE node_allocations
     SET instances = instances - ${LIVE(row)}, holding = holding - ${HOLDING(row)}
     WHERE node_id = ${row}.node_id AND tenant_id = ${row}.tenant_id AND pool_id = ${row}.pool_id;`;

const add = (row: string, table: string) =>
  `INSERT INTO node_allocations (node_id, tenant_id, pool_id, instances, holding)
     SELECT ${row}.node_id, ${row}.tenant_id, ${row}.pool_id, ${LIVE(row)}, ${HOLDING(row)}
     WHERE ${row}.node_id IS NOT NULL
     ON CONFLICT (node_id, tenant_id, pool_id) DO UPDATE
     SET instances = ${table}.instances + excluded.instances,
         holding = ${table}.holding + excluded.holding;`;

const sqliteTriggers = [
  `CREATE TRIGGER instances_alloc_insert AFTER INSERT ON instances
   BEGIN ${add('NEW', 'node_allocations')} END`,
  `CREATE TRIGGER instances_alloc_delete AFTER DELETE ON instances
   BEGIN ${take('OLD')} END`,
  `CREATE TRIGGER instances_alloc_update AFTER UPDATE OF node_id, desired_status ON instances
   WHEN OLD.node_id IS NOT NEW.node_id OR OLD.desired_status IS NOT NEW.desired_status
   BEGIN ${take('OLD')} ${add('NEW', 'node_allocations')} END`,
];

const postgresTriggers = [
  `CREATE FUNCTION mvm_node_allocations() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     IF TG_OP <> 'INSERT' THEN ${take('OLD')} END IF;
     IF TG_OP <> 'DELETE' THEN ${add('NEW', 'node_allocations')} END IF;
     RETURN NULL;
   END $$`,
  `CREATE TRIGGER instances_alloc_rows AFTER INSERT OR DELETE ON instances
   FOR EACH ROW EXECUTE FUNCTION mvm_node_allocations()`,
  `CREATE TRIGGER instances_alloc_change AFTER UPDATE OF node_id, desired_status ON instances
   FOR EACH ROW WHEN (OLD.node_id IS DISTINCT FROM NEW.node_id
     OR OLD.desired_status IS DISTINCT FROM NEW.desired_status)
   EXECUTE FUNCTION mvm_node_allocations()`,
];
