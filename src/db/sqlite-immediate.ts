import type { Database as SqliteDatabase } from 'better-sqlite3';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection } from 'kysely';
import { cachedStatements } from './sqlite-statement-cache.ts';

/**
 * SQLite with every transaction begun IMMEDIATE: it takes the write lock before its first
 * read, so what a transaction reads cannot change before it writes (a quota check and the
 * write it allows are one step), and a writer in another process makes it wait up to
 * busy_timeout. A deferred BEGIN would read first and then fail with SQLITE_BUSY at once when
 * another process wrote meanwhile: busy_timeout does not cover upgrading a stale read.
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  private readonly database: ReturnType<typeof cachedStatements>;

  constructor(database: SqliteDatabase) {
    const cached = cachedStatements(database);
    super({ database: cached });
    this.database = cached;
  }

  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver({ database: this.database });
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}
