import { sql, type Kysely, type RawBuilder } from 'kysely';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database } from '../schema.ts';

/**
 * The instance change index (migration 0028, docs/api.md "Watching instances"): every write of an instance
 * row stamps `change_seq`, every delete leaves a tombstone with the same kind of stamp, and a
 * cursor says up to where a reader has seen everything. A reader asks for the stamps in
 * [since, cursor) and moves on to cursor: nothing committed later can take a stamp below it.
 *
 * - Postgres: the stamp is the writing transaction's id (xid8). Transactions commit in any
 *   order, so the cursor is the oldest transaction the statement's snapshot does not see
 *   (its in-progress ids, less those pg_stat_activity shows running on another database), or
 *   the snapshot's xmax when there is none: every id below it is visible to the statement,
 *   and every transaction still to write has an id at or above it. Transactions of other
 *   databases on the server do not hold it back; a long transaction on this one does (its
 *   changes and every later one reach watchers when it ends). The ids are not filtered by
 *   "running on this database" instead: pg_stat_activity is read after the snapshot was
 *   taken, and a transaction of this database that commits in between is in the snapshot's
 *   ids (its rows unseen by the statement) but no longer running. Passed, its rows were
 *   never read by anyone following the cursor: a node's document patched from its kept rows
 *   lacked the change for good (docs/scale.md, "fleet-sim's unseen change").
 * - SQLite: one writer at a time (immediate transactions), so the stamp is one more than the
 *   highest stamp so far, taken in the statement that writes the row, and the cursor is the
 *   next such stamp.
 */
export function changeStamp(db: Kysely<Database>): RawBuilder<number> {
  return dialectOf(db) === 'postgres'
    ? sql<number>`pg_current_xact_id()::text::bigint`
    : sql<number>`(SELECT MAX(m) + 1 FROM (
        SELECT COALESCE(MAX(change_seq), 0) AS m FROM instances
        UNION ALL SELECT COALESCE(MAX(change_seq), 0) FROM instance_tombstones))`;
}

/**
 * The stamp of a deleted row's tombstone, written after the row is gone. On SQLite one more
 * than the highest stamp left would go back below the deleted row's own when that row held the
 * highest: a reader whose cursor had passed the row would never see its deletion (a node's
 * patched document kept an instance its agent had reported destroyed). Never below the row's
 * stamp + 1, so it is the stamp the deletion would have had with the row still there.
 */
export function tombstoneStamp(db: Kysely<Database>, rowStamp: number): RawBuilder<number> {
  return dialectOf(db) === 'postgres'
    ? changeStamp(db)
    : sql<number>`MAX(${changeStamp(db)}, ${rowStamp + 1})`;
}

/**
 * The change cursor as a scalar subquery, for a statement that reads changes in the same
 * snapshot (every change stamped below it is visible to that statement).
 */
export function changeCursorExpression(db: Kysely<Database>): RawBuilder<string | number> {
  return dialectOf(db) === 'postgres'
    ? sql<string>`(SELECT LEAST(
          pg_snapshot_xmax(snap.s)::text::bigint,
          (SELECT MIN(x::text::bigint) FROM pg_snapshot_xip(snap.s) AS x
            WHERE x::text::bigint % 4294967296 NOT IN (
              SELECT backend_xid::text::bigint FROM pg_stat_activity
              WHERE datname <> current_database() AND backend_xid IS NOT NULL))
        )::text FROM (SELECT pg_current_snapshot() AS s) AS snap)`
    : changeStamp(db);
}

const cursorQuery = (db: Kysely<Database>) =>
  sql<{ c: string | number }>`SELECT ${changeCursorExpression(db)} AS c`;

/** The cursor's read compiled once (a node's document read in full starts with it). */
const cursorStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, _p: object) => {
    const query = cursorQuery(db);
    return { compile: () => query.compile(db) };
  },
});

/**
 * Every change stamped below the answer is committed and readable now. With `statements`, the
 * compiled read (on Postgres a named prepared statement).
 */
export async function changeCursor(
  db: Kysely<Database>,
  statements?: CompiledStatements,
): Promise<number> {
  const { rows } = statements
    ? await statements.execute(db, cursorStatement, {})
    : await cursorQuery(db).execute(db);
  return Number(rows[0]?.c ?? 0);
}

/** Below this stamp tombstones may have been pruned (migration 0033); 0 when none was. */
export async function changeHorizon(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('instance_change_horizon')
    .select('horizon')
    .where('id', '=', 1)
    .executeTakeFirst();
  return Number(row?.horizon ?? 0);
}

/**
 * Prunes the tombstones of instances deleted before `deletedBefore`: the horizon moves up to
 * just past the newest of them (never down: concurrent pruners keep the higher one), then
 * every tombstone stamped below it goes. The newest tombstone of all is kept, so SQLite's next
 * stamp (one more than the highest) never goes back, and the horizon stays at or below the
 * change cursor, so no tombstone is ever written below it (on Postgres a long transaction
 * holds it back: its deletions are stamped with its id, however late it commits). The horizon is written before anything
 * is deleted, so a reader never finds a tombstone missing above the horizon it reads.
 */
export async function pruneTombstones(
  db: Kysely<Database>,
  deletedBefore: string,
  at: string,
): Promise<{ pruned: number; horizon: number }> {
  const stamps = await db
    .selectFrom('instance_tombstones')
    .select((eb) => [
      eb.fn.max('change_seq').as('newest'),
      sql<
        number | string | null
      >`MAX(CASE WHEN deleted_at < ${deletedBefore} THEN change_seq END)`.as('expired'),
    ])
    .executeTakeFirst();
  const current = await changeHorizon(db);
  if (stamps?.expired === null || stamps?.expired === undefined || stamps.newest === null)
    return { pruned: 0, horizon: current };
  // Never past a transaction still running (Postgres): one that deletes a row later stamps
  // its tombstone with its own id, which must not fall below the horizon and be pruned unread.
  const running = await changeCursor(db);
  const horizon = Math.min(Number(stamps.expired) + 1, Number(stamps.newest), running);
  if (horizon <= current) return { pruned: 0, horizon: current };
  await db
    .insertInto('instance_change_horizon')
    .values({ id: 1, horizon, pruned_at: at })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        horizon: sql<number>`CASE WHEN excluded.horizon > instance_change_horizon.horizon
          THEN excluded.horizon ELSE instance_change_horizon.horizon END`,
        pruned_at: at,
      }),
    )
    .execute();
  const deleted = await db
    .deleteFrom('instance_tombstones')
    .where('change_seq', '<', horizon)
    .executeTakeFirst();
  return { pruned: Number(deleted.numDeletedRows), horizon: await changeHorizon(db) };
}
