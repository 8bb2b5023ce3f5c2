import { PostgresAdapter, type Kysely } from 'kysely';

/** The SQL databases the store runs on. */
export type SqlDialect = 'sqlite' | 'postgres';

/** Which database a Kysely instance (or transaction) talks to. */
export function dialectOf<DB>(db: Kysely<DB>): SqlDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}
