import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialect } from '../sql-dialect.ts';

/**
 * A move's room on its target, reserved from the moment the move is accepted (docs/moves.md,
 * "The target's room is reserved"): a move that wakes its instance on the target (`--wake`, a
 * drain's restore) adds its pool's vCPUs and RAM to the target's `node_loads` (migration 0037)
 * while it is under way, and takes them back in the write that ends it: `done` (the same
 * transaction then counts the instance itself there, services/move-report-service.ts),
 * `failed` (an abort, a timeout, a dead node), or the row's deletion. Kept by triggers on
 * `instance_moves`, so every reader of the loads (placement, every raise, the pressure pass,
 * relocation, the next move's check) counts it, and nothing held in a process can leak: a
 * restarted coordinator finds exactly the moves still under way reserved. Existing moves under
 * way are counted when it applies. Frozen once released.
 */
export function moveReservationsMigration(dialect: SqlDialect): Migration {
  const stripe = (row: string) =>
    dialect === 'postgres' ? `(hashtext(${row}.tenant_id) & 15)` : '0';
  const reserves = (row: string) => `(${row}.wake = 1 AND ${row}.step NOT IN ('done', 'failed'))`;
  const change = (row: string, sign: '+' | '-') =>
    `INSERT INTO node_loads (node_id, stripe, vcpus, mem_mib)
       SELECT ${row}.target_node, ${stripe(row)}, ${sign}p.vcpus, ${sign}p.mem_mib FROM pools p
       WHERE p.tenant_id = ${row}.tenant_id AND p.id = ${row}.pool_id AND ${reserves(row)}
     ON CONFLICT (node_id, stripe) DO UPDATE
     SET vcpus = node_loads.vcpus + excluded.vcpus, mem_mib = node_loads.mem_mib + excluded.mem_mib;`;
  const changed = (op: 'IS NOT' | 'IS DISTINCT FROM') =>
    `${reserves('OLD')} ${op} ${reserves('NEW')} OR OLD.target_node ${op} NEW.target_node`;
  const triggers =
    dialect === 'postgres'
      ? [
          `CREATE FUNCTION mvm_move_reservations() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF TG_OP <> 'INSERT' THEN ${change('OLD', '-')} END IF;
             IF TG_OP <> 'DELETE' THEN ${change('NEW', '+')} END IF;
             RETURN NULL;
           END $$`,
          `CREATE TRIGGER instance_moves_reserve_rows AFTER INSERT OR DELETE ON instance_moves
           FOR EACH ROW EXECUTE FUNCTION mvm_move_reservations()`,
          `CREATE TRIGGER instance_moves_reserve_change AFTER UPDATE OF step, wake, target_node
           ON instance_moves FOR EACH ROW WHEN (${changed('IS DISTINCT FROM')})
           EXECUTE FUNCTION mvm_move_reservations()`,
        ]
      : [
          `CREATE TRIGGER instance_moves_reserve_insert AFTER INSERT ON instance_moves
           BEGIN ${change('NEW', '+')} END`,
          `CREATE TRIGGER instance_moves_reserve_delete AFTER DELETE ON instance_moves
           BEGIN ${change('OLD', '-')} END`,
          `CREATE TRIGGER instance_moves_reserve_update AFTER UPDATE OF step, wake, target_node
           ON instance_moves WHEN ${changed('IS NOT')}
           BEGIN ${change('OLD', '-')} ${change('NEW', '+')} END`,
        ];
  /** Adds (or takes back) what the moves under way reserve, as one statement. */
  const existing = (sign: '' | '-') =>
    `INSERT INTO node_loads (node_id, stripe, vcpus, mem_mib)
     SELECT m.target_node, ${stripe('m')}, ${sign}SUM(p.vcpus), ${sign}SUM(p.mem_mib)
     FROM instance_moves m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
     WHERE ${reserves('m')}
     GROUP BY ${dialect === 'postgres' ? `m.target_node, ${stripe('m')}` : 'm.target_node'}
     ON CONFLICT (node_id, stripe) DO UPDATE
     SET vcpus = node_loads.vcpus + excluded.vcpus, mem_mib = node_loads.mem_mib + excluded.mem_mib`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const statement of triggers) await sql.raw(statement).execute(db);
      await sql.raw(existing('')).execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      const drops =
        dialect === 'postgres'
          ? [
              'DROP TRIGGER instance_moves_reserve_change ON instance_moves',
              'DROP TRIGGER instance_moves_reserve_rows ON instance_moves',
              'DROP FUNCTION mvm_move_reservations()',
            ]
          : ['insert', 'delete', 'update'].map((op) => `DROP TRIGGER instance_moves_reserve_${op}`);
      for (const statement of drops) await sql.raw(statement).execute(db);
      await sql.raw(existing('-')).execute(db);
    },
  };
}
