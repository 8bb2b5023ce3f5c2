import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { MarkChanges } from '../../ports/store.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database } from '../schema.ts';
import { changeCursor } from './instance-changes.ts';

/**
 * Document marks that say when they moved (migration 0038), read as the instance change index
 * is (instance-changes.ts): on Postgres a bump is stamped with its transaction's id and the
 * cursor is the oldest transaction still running; on SQLite (one writer) a bump is stamped one
 * more than any mark's stamp so far, and the cursor is the next such stamp. Marks are never
 * deleted, so SQLite's stamps never go back.
 */
export function markStamp(db: Kysely<Database>): RawBuilder<number> {
  return dialectOf(db) === 'postgres'
    ? sql<number>`pg_current_xact_id()::text::bigint`
    : sql<number>`(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM document_marks)`;
}

/** Every bump stamped below the answer is committed and readable now. */
async function markCursor(db: Kysely<Database>): Promise<number> {
  if (dialectOf(db) === 'postgres') return changeCursor(db);
  const { rows } = await sql<{ c: number }>`SELECT ${markStamp(db)} AS c`.execute(db);
  return Number(rows[0]?.c ?? 0);
}

/**
 * The marks bumped since `since`, each with its value now, and the cursor to read from next
 * (read first: every bump stamped below it is committed, so visible to the read that follows;
 * one above it is read again next time, harmlessly). Undefined when more than `limit` moved.
 */
export async function marksSince(
  db: Kysely<Database>,
  since: number,
  limit: number,
): Promise<MarkChanges | undefined> {
  const cursor = await markCursor(db);
  const rows = await db
    .selectFrom('document_marks')
    .select(['scope', 'seq'])
    .where('change_seq', '>=', since)
    .limit(limit + 1)
    .execute();
  if (rows.length > limit) return undefined;
  return { cursor, marks: new Map(rows.map((r) => [r.scope, Number(r.seq)])) };
}
