import { errorMessage } from '../../src/core/errors.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { redactStoreUrl, withDatabase } from '../../src/db/store-url.ts';

/**
 * The databases every store test runs on. SQLite always runs; Postgres runs against the server
 * in MVM_TEST_PG_URL (default postgres://mvm:mvm@127.0.0.1:5432/postgres), each test in a fresh
 * database that is dropped afterwards. Without a reachable server the Postgres cases are skipped
 * with a warning, except under CI, where that is an error.
 */
export type DatabaseName = 'sqlite' | 'postgres';

export interface TestDatabase {
  /** Pass to openStore(). Stays valid (and keeps its data) until cleanup. */
  url: string;
  cleanup(): Promise<void>;
}

export interface DatabaseKind {
  name: DatabaseName;
  /** Why this database cannot be used here, or undefined when it can. */
  probe(): Promise<string | undefined>;
  open(): Promise<TestDatabase>;
}

export interface DatabaseUnderTest extends DatabaseKind {
  /** Set when the cases for this database must be skipped. */
  skipReason: string | undefined;
}

export const DEFAULT_TEST_PG_URL = 'postgres://mvm:mvm@127.0.0.1:5432/postgres';

export function testPostgresUrl(): string {
  return process.env.MVM_TEST_PG_URL ?? DEFAULT_TEST_PG_URL;
}

const sqlite: DatabaseKind = {
  name: 'sqlite',
  probe: () => Promise.resolve(undefined),
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-store-test-'));
    // A nested path proves openStore creates the parent directory.
    return {
      url: join(dir, 'state', 'coordinator.sqlite'),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

let created = 0;

const postgres: DatabaseKind = {
  name: 'postgres',
  async probe() {
    try {
      await withAdmin((client) => client.query('select 1'));
      return undefined;
    } catch (error) {
      const cause = errorMessage(error);
      return `Postgres at ${redactStoreUrl(testPostgresUrl())} is unreachable (${cause})`;
    }
  },
  async open() {
    created += 1;
    const name = `mvm_test_${process.pid}_${Date.now().toString(36)}_${created}`;
    await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
    return {
      url: databaseUrl(name),
      cleanup: async () => {
        await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      },
    };
  },
};

export const databases: readonly DatabaseKind[] = [sqlite, postgres];

let underTest: Promise<DatabaseUnderTest[]> | undefined;

/**
 * Probes every database once per test process. Unreachable Postgres: throws under CI (set
 * env CI), otherwise warns on the console and marks the Postgres cases skipped.
 */
export function databasesUnderTest(): Promise<DatabaseUnderTest[]> {
  underTest ??= Promise.all(databases.map(withSkipReason));
  return underTest;
}

async function withSkipReason(kind: DatabaseKind): Promise<DatabaseUnderTest> {
  const reason = await kind.probe();
  if (reason === undefined) return { ...kind, skipReason: undefined };
  const advice =
    'start one with `sudo scripts/ensure-postgres.sh`, or point MVM_TEST_PG_URL at a server where the role may CREATE DATABASE';
  if (process.env.CI)
    throw new Error(`${reason}; the store tests must run on Postgres in CI: ${advice}`);
  console.warn(`\n⚠ SKIPPING ${kind.name} store tests: ${reason}; ${advice}\n`);
  return { ...kind, skipReason: reason };
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: testPostgresUrl(),
    connectionTimeoutMillis: 3000,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function databaseUrl(name: string): string {
  return withDatabase(testPostgresUrl(), name);
}
