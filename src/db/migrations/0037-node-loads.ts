import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialect } from '../sql-dialect.ts';

/**
 * What each node holds, summed by the store as it changes (docs/scale.md, "Node loads"): a
 * scheduling pass read the node's load by summing every allocation row (one per node, tenant
 * and pool: 50,000 at 100k instances in a spread fleet, ~70 ms on Postgres per placing pass).
 * `node_loads` keeps the vCPUs and RAM held (desired running or warm, placed) per node and
 * stripe, kept by triggers on `instances` in the same transaction as every write that changes
 * what a node holds. A running ⇄ warm change holds the same and touches no row. Stripes
 * spread the tenants of one node over 16 rows on Postgres, so writers of different tenants
 * rarely wait on one row lock; readers sum them. Each change adds or subtracts by upsert,
 * so the sum per node is right whichever stripe a row's change lands on. SQLite has one
 * writer at a time: one stripe. Pool sizes never change after creation. Frozen once released.
 */
export function nodeLoadsMigration(dialect: SqlDialect): Migration {
  const stripe = (row: string) =>
    dialect === 'postgres' ? `(hashtext(${row}.tenant_id) & 15)` : '0';
  const change = (row: string, sign: '+' | '-') =>
    `INSERT INTO node_loads (node_id, stripe, vcpus, mem_mib)
       SELECT ${row}.node_id, ${stripe(row)}, ${sign}p.vcpus, ${sign}p.mem_mib FROM pools p
       WHERE p.tenant_id = ${row}.tenant_id AND p.id = ${row}.pool_id
         AND ${row}.node_id IS NOT NULL AND ${row}.desired_status IN ('running', 'warm')
     ON CONFLICT (node_id, stripe) DO UPDATE
     SET vcpus = node_loads.vcpus + excluded.vcpus, mem_mib = node_loads.mem_mib + excluded.mem_mib;`;
  const holds = (row: string) => `(${row}.desired_status IN ('running', 'warm'))`;
  const moved = (op: 'IS NOT' | 'IS DISTINCT FROM') =>
    `OLD.node_id ${op} NEW.node_id OR ${holds('OLD')} ${op} ${holds('NEW')}`;
  const triggers =
    dialect === 'postgres'
      ? [
          `CREATE FUNCTION mvm_node_loads() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF TG_OP <> 'INSERT' THEN ${change('OLD', '-')} END IF;
             IF TG_OP <> 'DELETE' THEN ${change('NEW', '+')} END IF;
             RETURN NULL;
           END $$`,
          `CREATE TRIGGER instances_load_rows AFTER INSERT OR DELETE ON instances
           FOR EACH ROW EXECUTE FUNCTION mvm_node_loads()`,
          `CREATE TRIGGER instances_load_change AFTER UPDATE OF node_id, desired_status
           ON instances FOR EACH ROW WHEN (${moved('IS DISTINCT FROM')})
           EXECUTE FUNCTION mvm_node_loads()`,
        ]
      : [
          `CREATE TRIGGER instances_load_insert AFTER INSERT ON instances
           BEGIN ${change('NEW', '+')} END`,
          `CREATE TRIGGER instances_load_delete AFTER DELETE ON instances
           BEGIN ${change('OLD', '-')} END`,
          `CREATE TRIGGER instances_load_update AFTER UPDATE OF node_id, desired_status
           ON instances WHEN ${moved('IS NOT')}
           BEGIN ${change('OLD', '-')} ${change('NEW', '+')} END`,
        ];
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('node_loads')
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('stripe', 'integer', (c) => c.notNull())
        .addColumn('vcpus', 'integer', (c) => c.notNull())
        .addColumn('mem_mib', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('node_loads_pkey', ['node_id', 'stripe'])
        .execute();
      for (const statement of triggers) await sql.raw(statement).execute(db);
      await sql
        .raw(
          `INSERT INTO node_loads (node_id, stripe, vcpus, mem_mib)
           SELECT i.node_id, ${stripe('i')}, SUM(p.vcpus), SUM(p.mem_mib)
           FROM instances i JOIN pools p ON p.tenant_id = i.tenant_id AND p.id = i.pool_id
           WHERE i.node_id IS NOT NULL AND i.desired_status IN ('running', 'warm')
           GROUP BY ${dialect === 'postgres' ? `i.node_id, ${stripe('i')}` : 'i.node_id'}`,
        )
        .execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      const drops =
        dialect === 'postgres'
          ? [
              'DROP TRIGGER instances_load_change ON instances',
              'DROP TRIGGER instances_load_rows ON instances',
              'DROP FUNCTION mvm_node_loads()',
            ]
          : ['insert', 'delete', 'update'].map((op) => `DROP TRIGGER instances_load_${op}`);
      for (const statement of drops) await sql.raw(statement).execute(db);
      await db.schema.dropTable('node_loads').execute();
    },
  };
}
