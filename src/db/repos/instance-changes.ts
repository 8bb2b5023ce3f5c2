import { sql, type Kysely, type RawBuilder } from 'kysely';
import { dialectOf } from '../sql-dialect.ts';
import type { Database } from '../schema.ts';

/**
 * The instance change index (migration 0028, docs/api.md "Watch"): every write of an instance
 * row stamps `change_seq`, every delete leaves a tombstone with the same kind of stamp, and a
 * cursor says up to where a reader has seen everything. A reader asks for the stamps in
 * [since, cursor) and moves on to cursor: nothing committed later can take a stamp below it.
 *
 * - Postgres: the stamp is the writing transaction's id (xid8). Transactions commit in any
 *   order, so the cursor is the oldest transaction still running (the snapshot's xmin): every
 *   id below it has finished, and every transaction still to write has an id at or above it.
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

/** Every change stamped below the answer is committed and readable now. */
export async function changeCursor(db: Kysely<Database>): Promise<number> {
  const query =
    dialectOf(db) === 'postgres'
      ? sql<{ c: string | number }>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS c`
      : sql<{ c: string | number }>`SELECT ${changeStamp(db)} AS c`;
  const { rows } = await query.execute(db);
  return Number(rows[0]?.c ?? 0);
}
