import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import type { SqliteDatabase as KyselySqliteDatabase } from 'kysely';

/** Distinct statements kept; `IN (?, ?, …)` lists of every length each count as one. */
const DEFAULT_SIZE = 512;

/**
 * The database as Kysely's SQLite driver sees it, with each statement prepared once and
 * reused: the driver prepares every query afresh, and under a fleet's load (heartbeats,
 * watches, status reports) parsing and planning the same few dozen statements was a tenth
 * of the coordinator's CPU. Safe because better-sqlite3 runs a statement to completion in
 * `all` or `run`; one still open in an iterator (`busy`) is not handed out again. Least
 * recently used statements go first.
 */
export function cachedStatements(
  database: SqliteDatabase,
  size = DEFAULT_SIZE,
): KyselySqliteDatabase & { cached(): number } {
  const statements = new Map<string, Statement>();
  return {
    close: () => {
      statements.clear();
      database.close();
    },
    prepare(sql: string): Statement {
      const found = statements.get(sql);
      if (found && !found.busy) {
        // Re-inserted: a Map iterates in insertion order, so the first key is the oldest.
        statements.delete(sql);
        statements.set(sql, found);
        return found;
      }
      const statement = database.prepare(sql);
      if (found) return statement;
      statements.set(sql, statement);
      if (statements.size > size) {
        const oldest = statements.keys().next();
        if (!oldest.done) statements.delete(oldest.value);
      }
      return statement;
    },
    cached: () => statements.size,
  };
}
