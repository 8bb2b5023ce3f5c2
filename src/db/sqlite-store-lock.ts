import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { ConflictError } from '../core/errors.ts';
import { SQLITE_MEMORY, parseStoreUrl } from './store-url.ts';

/** Held while a coordinator serves an SQLite store; release() gives it up. */
export interface StoreLock {
  /** The lock file, or undefined when the store needs none (Postgres, :memory:). */
  readonly path: string | undefined;
  release(): void;
}

const NO_LOCK: StoreLock = { path: undefined, release: () => undefined };

/**
 * One coordinator per SQLite database: two would each believe they alone schedule, and their
 * writes would fail each other. The claim is an exclusive SQLite lock on `<database>.lock`,
 * which is an fcntl lock the kernel drops with its process, however it ends: a coordinator
 * killed with SIGKILL leaves nothing behind that could refuse the next start (a pid file
 * would, or worse, be taken over by two at once). Postgres serves several coordinators.
 */
export function lockSqliteStore(url: string): StoreLock {
  const target = parseStoreUrl(url);
  if (target.dialect !== 'sqlite' || target.path === SQLITE_MEMORY) return NO_LOCK;
  const path = `${target.path}.lock`;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  createPrivately(path);
  // No waiting: a held lock means a running coordinator, which will not let go.
  const database = new SqliteDatabase(path, { timeout: 0 });
  try {
    // The journal in memory: nothing is ever written, so no -journal file is left beside it.
    database.pragma('journal_mode = memory');
    database.exec('begin exclusive');
  } catch (error) {
    database.close();
    if (!isBusy(error)) throw error;
    throw alreadyServed(target.path, path);
  }
  return { path, release: () => database.close() };
}

/**
 * Creates the (empty, never written) file 0600 like the database beside it, and only if it
 * is missing: closing any descriptor of a file this process has locked would drop the lock.
 */
function createPrivately(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function alreadyServed(database: string, lock: string): ConflictError {
  const pid = lockHolder(lock);
  const who =
    pid === undefined ? 'another mvm coordinator' : `another mvm coordinator (pid ${pid})`;
  return new ConflictError(
    `${who} is already serving the SQLite database ${database} (it holds ${lock}); stop it first, or give this one its own --data-dir or --database`,
    { database, lock, ...(pid !== undefined ? { pid } : {}) },
  );
}

/**
 * The pid holding a POSIX lock on `path`, from /proc/locks (Linux), for the message only:
 * undefined when it cannot tell. Lines read `1: POSIX ADVISORY WRITE <pid> <maj>:<min>:<ino> …`.
 */
function lockHolder(path: string): number | undefined {
  try {
    const { dev, ino } = statSync(path);
    const file = `${hex2(major(dev))}:${hex2(minor(dev))}:${ino}`;
    for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[1] === 'POSIX' && fields[5] === file) return Number(fields[4]);
    }
  } catch {
    // No /proc, or the file went away: the message goes without a pid.
  }
  return undefined;
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor).
const major = (dev: number) =>
  Number(((BigInt(dev) >> 8n) & 0xfffn) | ((BigInt(dev) >> 32n) & ~0xfffn));
const minor = (dev: number) => Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
const hex2 = (n: number) => n.toString(16).padStart(2, '0');
