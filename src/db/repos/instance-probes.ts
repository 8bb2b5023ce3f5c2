import { sql, type Kysely } from 'kysely';
import { desiredStatuses } from '../../core/model.ts';
import type { DesiredCount } from '../../ports/store.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { oneOf } from '../row-values.ts';
import type { Database } from '../schema.ts';

/**
 * Questions about instances answered in the store, each one indexed statement whatever the
 * fleet's size: what the scheduler's probe and a scale's quota check ask on every change.
 */

/** Whether any instance is held asleep by memory pressure. */
export async function anyPressureHeld(db: Kysely<Database>): Promise<boolean> {
  const row = await pressureHeld(db).executeTakeFirst();
  return row !== undefined;
}

/**
 * Every stored value is a timestamp, so `>= ''` means IS NOT NULL; unlike IS NOT NULL,
 * SQLite's planner takes the index for it (a range), instead of scanning every instance.
 * Ordered by the indexed column, so Postgres takes the index too even when its statistics
 * guess many rows match (right after a bulk load it read all 100k, ~29 ms).
 *
 * The probes' constants are written into the SQL, not bound: a prepared statement's generic
 * plan guesses a third of the rows for `>= $1` and a tenth for `LIMIT $2` (cost 121 against
 * 17 with the values), so Postgres kept planning every call custom (docs/scale.md,
 * "Postgres' plans of a toggle").
 */
export function pressureHeld(db: Kysely<Database>) {
  return db
    .selectFrom('instances')
    .select('id')
    .where('pressure_slept_at', '>=', sql.lit(''))
    .orderBy('pressure_slept_at')
    .limit(sql.lit(1));
}

/** A live instance placed on no node, the first by the node index (nulls share one key). */
export function unplaced(db: Kysely<Database>) {
  return db
    .selectFrom('instances')
    .select('id')
    .where('node_id', 'is', null)
    .where('desired_status', '<>', sql.lit('destroyed'))
    .orderBy('node_id')
    .limit(sql.lit(1));
}

/** Unplaced work or an instance held asleep: both probes in one statement (one round trip). */
export async function schedulerWork(
  db: Kysely<Database>,
  statements: CompiledStatements,
): Promise<boolean> {
  const [row] = (await statements.execute(db, schedulerWorkStatement, {})).rows;
  return hasSchedulerWork(row);
}

/** The probe's answer from its two scalar subqueries' row (null: none found). */
export function hasSchedulerWork(row: { unplaced: unknown; held: unknown } | undefined): boolean {
  return (row?.unplaced ?? null) !== null || (row?.held ?? null) !== null;
}

/** The probe runs after every change of intent: compiled once (db/compiled-statement.ts). */
export const schedulerWorkStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>) =>
    db.selectNoFrom(() => [unplaced(db).as('unplaced'), pressureHeld(db).as('held')]),
});

/** The tenant's live instances counted by pool and desired status (one pool left out). */
export async function desiredCounts(
  db: Kysely<Database>,
  tenantId: string,
  options: { exceptPoolId?: string } = {},
): Promise<DesiredCount[]> {
  let query = db
    .selectFrom('instances')
    .select(['pool_id', 'desired_status'])
    .select((eb) => eb.fn.countAll<number | string>().as('count'))
    .where('tenant_id', '=', tenantId)
    .where('desired_status', '<>', 'destroyed');
  if (options.exceptPoolId !== undefined)
    query = query.where('pool_id', '<>', options.exceptPoolId);
  const rows = await query
    .groupBy(['pool_id', 'desired_status'])
    .orderBy('pool_id')
    .orderBy('desired_status')
    .execute();
  return rows.map((r) => ({
    poolId: r.pool_id,
    desiredStatus: oneOf(desiredStatuses, r.desired_status, 'instances.desired_status'),
    // Postgres answers count(*) as a bigint, which pg hands over as a string.
    count: Number(r.count),
  }));
}

/**
 * Relief's sleep candidates: the rows warm and desired warm on `nodeIds`, found by the
 * `(status, node_id)` index (migration 0041) on those nodes only, not by reading the table.
 */
export function warmOnNodesQuery(db: Kysely<Database>, nodeIds: readonly string[]) {
  return db
    .selectFrom('instances')
    .selectAll()
    .where('status', '=', 'warm')
    .where('node_id', 'in', [...nodeIds])
    .where('desired_status', '=', 'warm')
    .orderBy('tenant_id')
    .orderBy('pool_id')
    .orderBy('id');
}

export async function warmOnNodes(db: Kysely<Database>, nodeIds: readonly string[]) {
  return nodeIds.length === 0 ? [] : warmOnNodesQuery(db, nodeIds).execute();
}
