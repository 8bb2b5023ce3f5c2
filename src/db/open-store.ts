import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, sql, type LogEvent } from 'kysely';
import { Pool, TypeOverrides } from 'pg';
import { StoreUnavailableError, UnavailableError, isMvmError } from '../core/errors.ts';
import { privateSqliteFile } from '../drivers/fs/private-files.ts';
import type { Store } from '../ports/store.ts';
import { KyselyStore } from './kysely-store.ts';
import { PreparedStatements, resilientPool } from './postgres-pool.ts';
import { migrateToLatest } from './migrate.ts';
import { ImmediateSqliteDialect } from './sqlite-immediate.ts';
import type { Database } from './schema.ts';
import type { SqlDialect } from './sql-dialect.ts';
import type { Logger } from '../ports/logger.ts';
import { SQLITE_MEMORY, parseStoreUrl, redactStoreUrl } from './store-url.ts';
import type { StoreTarget } from './store-url.ts';

export interface OpenStoreOptions {
  logger?: Logger;
  /**
   * How long a token or node certificate looked up for authentication is trusted
   * (db/credential-cache.ts; 0: not at all).
   */
  tokenCacheMs?: number;
  /** Told the text of every statement the store runs (tests count a change's statements). */
  onQuery?: (sql: string) => void;
}

const INT8_OID = 20;

/**
 * Opens the coordinator's store and migrates it to the newest schema.
 * `postgres://…`/`postgresql://…` opens a Postgres pool; anything else is an SQLite file
 * (`sqlite:PATH`, `file:PATH`, a plain path, or `:memory:`), created with its directory
 * (0700) and mode 0600.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const { db, dialect, prepared } = openDatabase(url, options.logger, options.onQuery);
  try {
    await checkReachable(db, url);
    await migrateToLatest(db, dialect, options.logger);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  options.logger?.info({ dialect }, 'store opened');
  return new KyselyStore(db, dialect, {
    ...(options.tokenCacheMs === undefined ? {} : { tokenCacheMs: options.tokenCacheMs }),
    ...(prepared ? { prepared } : {}),
  });
}

/**
 * The bare Kysely instance for a store URL: not checked, not migrated. For tools and tests;
 * the caller destroys it.
 */
export function openDatabase(
  url: string,
  logger?: Logger,
  onQuery?: (sql: string) => void,
): { db: Kysely<Database>; dialect: SqlDialect; prepared?: PreparedStatements } {
  const target = parseStoreUrl(url);
  // The statements the store compiles run as named prepared statements (postgres-pool.ts).
  const prepared = target.dialect === 'postgres' ? new PreparedStatements() : undefined;
  const dialect = createDialect(target, url, logger, prepared);
  const log = onQuery && ((event: LogEvent) => onQuery(event.query.sql));
  return {
    db: new Kysely<Database>(log ? { dialect, log } : { dialect }),
    dialect: target.dialect,
    ...(prepared ? { prepared } : {}),
  };
}

function createDialect(
  target: StoreTarget,
  url: string,
  logger: Logger | undefined,
  prepared: PreparedStatements | undefined,
): PostgresDialect | ImmediateSqliteDialect {
  if (target.dialect === 'postgres') {
    return new PostgresDialect({
      pool: resilientPool(postgresPool(target.connectionString, target.poolMax), logger, prepared),
    });
  }
  return new ImmediateSqliteDialect(openSqlite(target.path, url, logger));
}

/** A request waits this long for a connection before it is answered 503 store_unavailable. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * A connection idle this long is closed. pg-pool's default, 10 s, closed them between bursts,
 * and with each its prepared statements (postgres-pool.ts): the next burst parsed and planned
 * them again. The pool's `max` bounds how many are kept; one lost while idle is dropped and
 * reported by the pool (resilientPool), one that died unnoticed fails its next statement with
 * StoreUnavailableError as before.
 */
export const IDLE_TIMEOUT_MS = 10 * 60_000;

function postgresPool(connectionString: string, max: number | undefined): Pool {
  // pg hands BIGINT back as a string to avoid precision loss; our int8 values (audit ids,
  // counts) stay far below 2^53, so read them as numbers.
  const types = new TypeOverrides();
  types.setTypeParser(INT8_OID, 'text', parseInt8);
  // Keep-alive lets a server that vanished without closing its sockets be noticed.
  return new Pool({
    connectionString,
    types,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    keepAlive: true,
    // A statement may be written before the previous one's answer (postgres-pool.ts: a
    // transaction's `begin` goes with its first statement).
    pipeline: true,
    ...(max === undefined ? {} : { max }),
  });
}

function parseInt8(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) {
    throw new RangeError(`bigint ${value} does not fit a JavaScript number`);
  }
  return parsed;
}

/** The store holds the whole inventory and the token hashes: its files are the owner's only. */
function openSqlite(
  path: string,
  url: string,
  logger: Logger | undefined,
): SqliteDatabase.Database {
  try {
    if (path !== SQLITE_MEMORY) {
      for (const tightened of privateSqliteFile(path)) {
        logger?.warn({ ...tightened }, 'store file was readable by others; tightened its mode');
      }
    }
    const database = new SqliteDatabase(path);
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    return database;
  } catch (error) {
    throw unreachable(url, error);
  }
}

async function checkReachable(db: Kysely<Database>, url: string): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    throw unreachable(url, error);
  }
}

function unreachable(url: string, error: unknown): Error {
  if (isMvmError(error) && !(error instanceof StoreUnavailableError)) return error;
  const cause =
    error instanceof StoreUnavailableError
      ? error.reason
      : error instanceof Error
        ? error.message
        : String(error);
  return new UnavailableError(
    `cannot open store ${redactStoreUrl(url)}: ${cause}; check that the database is running and the URL, credentials and file permissions are right`,
    { store: redactStoreUrl(url) },
  );
}
