import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { MarkChanges } from '../../ports/store.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database } from '../schema.ts';
import { changeCursorExpression } from './instance-changes.ts';

/**
 * Document marks that say when they moved (migration 0042), read as the instance change index
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

/** The mark cursor as a scalar subquery: every bump stamped below it is visible alongside. */
function markCursorExpression(db: Kysely<Database>): RawBuilder<string | number> {
  return dialectOf(db) === 'postgres' ? changeCursorExpression(db) : markStamp(db);
}

/** The read below, compiled once: every watcher's recomputation runs it (shared-marks.ts). */
const marksSinceStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { since: number; take: number }) => {
    const query = sql<{ scope: string | null; seq: number | string }>`
    SELECT m.scope, m.seq FROM (
      SELECT scope, seq FROM document_marks WHERE change_seq >= ${p.since}
      ORDER BY change_seq LIMIT ${p.take}
    ) AS m
    UNION ALL
    SELECT NULL, CAST(${markCursorExpression(db)} AS bigint)`;
    return { compile: () => query.compile(db) };
  },
});

/**
 * The marks bumped since `since`, each with its value now, and the cursor to read from next,
 * in one statement (one snapshot: every bump stamped below the cursor is visible to it; one
 * above it is read again next time, harmlessly). Undefined when more than `limit` moved.
 */
export async function marksSince(
  db: Kysely<Database>,
  statements: CompiledStatements,
  since: number,
  limit: number,
): Promise<MarkChanges | undefined> {
  const params = { since, take: limit + 1 };
  const { rows } = await statements.execute(db, marksSinceStatement, params);
  const cursorRow = rows.find((r) => r.scope === null);
  const marks = rows.filter((r) => r.scope !== null);
  if (marks.length > limit || !cursorRow) return undefined;
  return {
    cursor: Number(cursorRow.seq),
    marks: new Map(marks.map((r) => [r.scope as string, Number(r.seq)])),
  };
}
