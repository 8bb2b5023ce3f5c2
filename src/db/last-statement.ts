import type { CompiledQuery, Kysely } from 'kysely';
import { dialectOf } from './sql-dialect.ts';

/**
 * Put after a statement's text by `lastStatement`, taken off again by the Postgres pool's
 * client (postgres-pool.ts) before anything is sent: the statement is its transaction's last.
 */
const LAST = ' /* mvm:last */';

/**
 * Put after a statement's text by `aheadStatement`, taken off by the pool's client: the
 * statement is written together with the one issued right after it (one-connection.ts'
 * `inOrder`).
 */
const AHEAD = ' /* mvm:ahead */';

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

/**
 * `query` marked to be written with the statement issued after it, in one socket write: on a
 * pipelined Postgres connection the pool's client holds its socket corked from this statement
 * until the next one is written (or the current tick ends, should none follow). It changes
 * neither statement's meaning: Postgres still runs them one after the other, each answered in
 * order. On SQLite it returns the query unchanged.
 */
export function aheadStatement<DB, R>(db: Kysely<DB>, query: CompiledQuery<R>): CompiledQuery<R> {
  return dialectOf(db) === 'postgres' ? { ...query, sql: query.sql + AHEAD } : query;
}

/** The statement's text without its mark, and which mark it had. */
export function unmarked(sql: string): { sql: string; last: boolean; ahead: boolean } {
  if (sql.endsWith(LAST)) return { sql: sql.slice(0, -LAST.length), last: true, ahead: false };
  if (sql.endsWith(AHEAD)) return { sql: sql.slice(0, -AHEAD.length), last: false, ahead: true };
  return { sql, last: false, ahead: false };
}
