import type { CompiledQuery, Kysely } from 'kysely';
import { dialectOf } from './sql-dialect.ts';

/**
 * Put after a statement's text by `lastStatement`, taken off again by the Postgres pool's
 * client (postgres-pool.ts) before anything is sent: the statement is its transaction's last.
 */
const LAST = ' /* mvm:last */';

/**
 * `query` marked as its transaction's last statement. On Postgres, in a transaction, the pool's
 * client writes the transaction's `commit` together with it (one socket write, one round trip)
 * and answers Kysely's later `commit` with that commit's answer (docs/scale.md, "COMMIT with
 * the last statement"). So the transaction commits once the statement succeeds, whatever the
 * callback does after it: the callback must only return. Another statement after it fails
 * with an InternalError (the transaction is committed by then); an error thrown after it does
 * not roll anything back. Should the statement fail, Postgres rolls the transaction back and
 * the statement's error is what the callback sees. Outside a transaction, and on SQLite (in
 * process, no round trip), the mark changes nothing.
 */
export function lastStatement<DB, R>(db: Kysely<DB>, query: CompiledQuery<R>): CompiledQuery<R> {
  return dialectOf(db) === 'postgres' ? { ...query, sql: query.sql + LAST } : query;
}

/** The statement's text without the mark, and whether it was marked as the last. */
export function unmarked(sql: string): { sql: string; last: boolean } {
  return sql.endsWith(LAST)
    ? { sql: sql.slice(0, -LAST.length), last: true }
    : { sql, last: false };
}
