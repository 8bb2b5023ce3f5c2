import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';

/**
 * A list of ids bound as one parameter, so a statement reading "these ids" has one text
 * whatever their count: compiled once (compiled-statement.ts) and, on Postgres, one named
 * prepared statement, where an IN list of 500 parameters was parsed and planned on every call.
 * On Postgres the parameter is a text array, on SQLite a JSON array (json_each reads it).
 */
export type IdsParam = readonly string[] | string;

/** `ids` as `isOneOf` binds them on `db`'s dialect. */
export function idsParam(db: Kysely<Database>, ids: readonly string[]): IdsParam {
  return dialectOf(db) === 'postgres' ? [...ids] : JSON.stringify(ids);
}

/** `column` is one of the ids `idsParam` bound (a compiled statement's parameter). */
export function isOneOf(db: Kysely<Database>, column: string, ids: IdsParam): RawBuilder<boolean> {
  return dialectOf(db) === 'postgres'
    ? sql<boolean>`${sql.ref(column)} = ANY(${ids}::text[])`
    : sql<boolean>`${sql.ref(column)} IN (SELECT value FROM json_each(${ids}))`;
}
