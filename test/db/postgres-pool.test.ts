import { createServer } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { IDLE_TIMEOUT_MS, openDatabase, openStore } from '../../src/db/open-store.ts';
import { isConnectionLoss } from '../../src/db/postgres-pool.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

/** Ends every other session on the harness's own database (no other test's). */
async function terminateSessions(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ n: number }>(
      `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid()`,
    );
    return result.rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}

await describeEachDatabase('Postgres sessions lost under the store', (db) => {
  // An unheard 'error' event would end this test process: getting to the assertions is the proof.
  it.skipIf(db.name !== 'postgres')(
    'replaces an idle session killed from outside and carries on',
    async () => {
      await db.store().tenants.list();
      expect(await terminateSessions(db.url())).toBeGreaterThan(0);
      await settle();
      expect(await db.store().tenants.list()).toEqual([]);
    },
  );

  // pg-pool's own default closed a connection idle for 10 s, and its prepared statements with it.
  it.skipIf(db.name !== 'postgres')(
    'keeps an idle connection, and its prepared statements, for minutes',
    async () => {
      const { db: kysely } = openDatabase(db.url());
      const backend = async () =>
        (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(kysely)).rows[0]?.pid;
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        const first = await backend();
        vi.advanceTimersByTime(IDLE_TIMEOUT_MS - 1_000);
        expect(await backend()).toBe(first);
        vi.advanceTimersByTime(IDLE_TIMEOUT_MS + 1_000);
        await vi.waitFor(async () => expect(await backend()).not.toBe(first), { interval: 1 });
      } finally {
        vi.useRealTimers();
        await kysely.destroy();
      }
    },
  );

  it.skipIf(db.name !== 'postgres')(
    'fails a transaction whose session died with StoreUnavailableError, then serves again',
    async () => {
      const failed = await db
        .store()
        .transaction(async (repos) => {
          await repos.tenants.list();
          await terminateSessions(db.url());
          await settle();
          return repos.tenants.list();
        })
        .catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(StoreUnavailableError);
      expect(failed).toMatchObject({ code: 'store_unavailable', retryAfterSeconds: 2 });
      expect(await db.store().tenants.list()).toEqual([]);
    },
  );
});

describe('a Postgres store whose server is away', () => {
  it('answers StoreUnavailableError, and openStore says which store it cannot open', async () => {
    const url = `postgres://mvm:mvm@127.0.0.1:${await closedPort()}/nowhere`;
    const { db } = openDatabase(url);
    try {
      const error = await sql`select 1`.execute(db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).reason).toMatch(/ECONNREFUSED/);
      expect((error as Error).message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    } finally {
      await db.destroy();
    }
    await expect(openStore(url)).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(
        /cannot open store postgres:\/\/mvm:\*\*\*@.*ECONNREFUSED/,
      ) as unknown,
    });
  });

  it('tells a lost session from a failed statement', () => {
    const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    for (const lost of [
      coded('57P01', 'terminating connection due to administrator command'),
      coded('57P03', 'the database system is starting up'),
      coded('08006'),
      coded('ECONNREFUSED'),
      coded('ECONNRESET'),
      new Error('Connection terminated unexpectedly'),
      new Error('Client has encountered a connection error and is not queryable'),
    ]) {
      expect({ lost: lost.message, is: isConnectionLoss(lost) }).toEqual({
        lost: lost.message,
        is: true,
      });
    }
    for (const failed of [
      coded('23505', 'duplicate key value violates unique constraint'),
      coded('42P01', 'relation "x" does not exist'),
      coded('40001', 'could not serialize access'),
      new Error('syntax error'),
      'not an error',
    ]) {
      expect(isConnectionLoss(failed)).toBe(false);
    }
  });
});
