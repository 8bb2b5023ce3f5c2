import { CompiledQuery, Kysely, PostgresDialect, sql, type RawBuilder } from 'kysely';
import { Socket } from 'node:net';
import type pg from 'pg';
import { expect, it, vi } from 'vitest';
import { InternalError, StoreUnavailableError } from '../../src/core/errors.ts';
import { lastStatement } from '../../src/db/last-statement.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import { retryingTransientAborts } from '../../src/db/transaction-retry.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fakeClient } from './support/fake-pg-client.ts';
import { apiOver, ok } from '../coordinator/api-client-harness.ts';

/** `text` marked as its transaction's last statement, as a Postgres store marks it. */
function marked(text: string): string {
  const postgres = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: {} as unknown as pg.Pool }),
  });
  return lastStatement(postgres, CompiledQuery.raw(text)).sql;
}

it("writes a transaction's last statement with its commit and answers Kysely's commit with it", async () => {
  const { pool, sent, answer } = fakeClient(true);
  const connection = await pool.connect();
  await connection.query('begin', []);
  const first = connection.query('select 1', []);
  answer(0);
  answer(1);
  await first;
  const last = connection.query<{ n: number }>(marked('select $1 as n'), [2]);
  // The statement without its mark, and the commit, both before either is answered.
  expect(sent).toEqual(['begin', 'select 1', 'select $1 as n', 'commit']);
  answer(2, [{ n: 2 }]);
  expect((await last).rows).toEqual([{ n: 2 }]);
  const commit = connection.query('commit', []);
  answer(3, [], 'COMMIT');
  await commit;
  // Kysely's commit was answered by the one written with the statement.
  expect(sent).toHaveLength(4);
});

it('writes begin, the statement and commit together when the first statement is the last', async () => {
  const { pool, sent, answer } = fakeClient(true);
  const connection = await pool.connect();
  await connection.query('begin', []);
  const only = connection.query(marked('select 1'), []);
  expect(sent).toEqual(['begin', 'select 1', 'commit']);
  answer(0);
  answer(1);
  answer(2);
  await only;
  await connection.query('commit', []);
  expect(sent).toHaveLength(3);
});

it("surfaces a failed last statement's error and answers the rollback without sending it", async () => {
  const { pool, sent, answer, fail } = fakeClient(true);
  const connection = await pool.connect();
  await connection.query('begin', []);
  const last = connection.query(marked('insert 1'), []);
  const refused = Object.assign(new Error('duplicate key'), { code: '23505' });
  answer(0);
  fail(1, refused);
  // Postgres answers a commit in an aborted transaction with ROLLBACK.
  answer(2, [], 'ROLLBACK');
  await expect(last).rejects.toBe(refused);
  await connection.query('rollback', []);
  expect(sent).toEqual(['begin', 'insert 1', 'commit']);
});

it("fails Kysely's commit with the held commit's error, a lost session as StoreUnavailableError", async () => {
  const { pool, answer, fail } = fakeClient(true);
  const connection = await pool.connect();
  await connection.query('begin', []);
  const last = connection.query(marked('insert 1'), []);
  answer(0);
  answer(1);
  fail(2, Object.assign(new Error('terminating connection'), { code: '57P01' }));
  await last;
  await expect(connection.query('commit', [])).rejects.toBeInstanceOf(StoreUnavailableError);
  await connection.query('rollback', []);
});

it('refuses a statement after the last one, sending nothing', async () => {
  const { pool, sent, answer } = fakeClient(true);
  const connection = await pool.connect();
  await connection.query('begin', []);
  const last = connection.query(marked('insert 1'), []);
  answer(0);
  answer(1);
  answer(2);
  await last;
  await expect(connection.query('select 2', [])).rejects.toBeInstanceOf(InternalError);
  await connection.query('rollback', []);
  expect(sent).toEqual(['begin', 'insert 1', 'commit']);
});

it('sends a marked statement outside a transaction alone, without its mark', async () => {
  const { pool, sent, answer } = fakeClient(true);
  const connection = await pool.connect();
  const alone = connection.query(marked('select 1'), []);
  answer(0);
  await alone;
  expect(sent).toEqual(['select 1']);
  // The next transaction is untouched by it.
  await connection.query('begin', []);
  const next = connection.query('select 2', []);
  answer(1);
  answer(2);
  await next;
  expect(sent).toEqual(['select 1', 'begin', 'select 2']);
});

type Db = Kysely<unknown>;
const last = (db: Db, query: RawBuilder<unknown>) =>
  db.executeQuery(lastStatement(db, query.compile(db)));
const count = async (db: Db, table: string) =>
  Number(
    (await sql<{ n: unknown }>`select count(*) as n from ${sql.table(table)}`.execute(db)).rows[0]
      ?.n,
  );

await describeEachDatabase("a transaction's last statement", (harness) => {
  const postgres = () => harness.name === 'postgres';

  /** A Kysely of the store's kind on the harness's database, with a table `t`. */
  async function open(options = '') {
    await harness.store().tenants.list();
    const { db } = openDatabase(`${harness.url()}${options}`);
    await sql`create table t (id integer primary key)`.execute(db);
    return db as Db;
  }

  it.skipIf(!postgres())(
    'writes a two-statement transaction in two socket writes, its commit with the last',
    async () => {
      const db = await open('?pool_max=1');
      const transaction = (id: number) =>
        db.transaction().execute(async (trx) => {
          await sql`select 1`.execute(trx);
          await last(trx, sql`insert into t values (${id})`);
        });
      try {
        await transaction(1); // the connection's own start-up writes
        const write = vi.spyOn(Socket.prototype, '_write');
        const writev = vi.spyOn(Socket.prototype, '_writev');
        try {
          await transaction(2);
          // begin with the select, the insert with the commit.
          expect(write.mock.calls.length + writev.mock.calls.length).toBe(2);
        } finally {
          write.mockRestore();
          writev.mockRestore();
        }
        expect(await count(db, 't')).toBe(2);
      } finally {
        await db.destroy();
      }
    },
  );

  it('rolls the transaction back when its last statement fails, with that error', async () => {
    const db = await open('?pool_max=1');
    try {
      await db.transaction().execute((trx) => last(trx, sql`insert into t values (1)`));
      const failed = db.transaction().execute(async (trx) => {
        await sql`insert into t values (2)`.execute(trx);
        await last(trx, sql`insert into t values (1)`);
      });
      await expect(failed).rejects.toThrow(/unique|UNIQUE/);
      expect(await count(db, 't')).toBe(1);
      // The connection is clean: the next transaction commits.
      await db.transaction().execute((trx) => last(trx, sql`insert into t values (3)`));
      expect(await count(db, 't')).toBe(2);
    } finally {
      await db.destroy();
    }
  });

  it.skipIf(!postgres())(
    "fails with the commit's error, retried as before when the commit was aborted",
    async () => {
      const db = await open('?pool_max=1');
      try {
        // A deferred check fails at the commit, not at the statement.
        await sql`create table r (id integer primary key, up integer references r (id) deferrable initially deferred)`.execute(
          db,
        );
        const dangling = db
          .transaction()
          .execute((trx) => last(trx, sql`insert into r values (1, 2)`));
        await expect(dangling).rejects.toMatchObject({ code: '23503' });
        expect(await count(db, 'r')).toBe(0);
        // A commit refused twice as a serialization failure (a sequence is not rolled back).
        await sql`create sequence refusals`.execute(db);
        await sql
          .raw(
            `
          create function refuse() returns trigger language plpgsql as $$
          begin
            if nextval('refusals') <= 2 then
              raise exception 'refused at commit' using errcode = '40001';
            end if;
            return null;
          end $$`,
          )
          .execute(db);
        await sql`create constraint trigger refuse after insert on t deferrable initially deferred for each row execute function refuse()`.execute(
          db,
        );
        let attempts = 0;
        await retryingTransientAborts(
          () => {
            attempts += 1;
            return db.transaction().execute(async (trx) => {
              await sql`select 1`.execute(trx);
              await last(trx, sql`insert into t values (7)`);
            });
          },
          { pause: () => Promise.resolve() },
        );
        expect(attempts).toBe(3);
        expect(await count(db, 't')).toBe(1);
      } finally {
        await db.destroy();
      }
    },
  );

  it.skipIf(!postgres())(
    'refuses a statement after the last one with an InternalError (the transaction committed)',
    async () => {
      const db = await open('?pool_max=1');
      try {
        const after = db.transaction().execute(async (trx) => {
          await last(trx, sql`insert into t values (1)`);
          await sql`insert into t values (2)`.execute(trx);
        });
        await expect(after).rejects.toBeInstanceOf(InternalError);
        expect(await count(db, 't')).toBe(1);
      } finally {
        await db.destroy();
      }
    },
  );

  it.skipIf(!postgres())(
    'commits nothing when its session dies between the last statement and the commit',
    async () => {
      const db = await open('?pool_max=2');
      try {
        const killed = db.transaction().execute(async (trx) => {
          await sql`insert into t values (1)`.execute(trx);
          // The statement runs until its session is ended; the commit behind it never runs.
          await last(trx, sql`insert into t select 2 from pg_sleep(30)`);
        });
        const done = killed.catch((error: unknown) => error);
        await until(async () => {
          const { rows } = await sql<{ n: number }>`
            select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
            where datname = current_database() and query like '%pg_sleep(30)%'
              and pid <> pg_backend_pid()`.execute(db);
          return (rows[0]?.n ?? 0) > 0;
        });
        expect(await done).toBeInstanceOf(StoreUnavailableError);
        expect(await count(db, 't')).toBe(0);
        // What committed stays: a committed transaction's session ended after its commit.
        await db.transaction().execute(async (trx) => {
          await sql`insert into t values (3)`.execute(trx);
          await last(trx, sql`insert into t values (4)`);
        });
        await sql`select count(pg_terminate_backend(pid)) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()`.execute(db);
        expect(await count(db, 't')).toBe(2);
      } finally {
        await db.destroy();
      }
    },
  );

  it.skipIf(postgres())('leaves a SQLite statement as it is', async () => {
    const db = await open();
    try {
      const query = sql`insert into t values (1)`.compile(db);
      expect(lastStatement(db, query)).toBe(query);
      // Statements after it still run in the transaction, rolled back with it.
      await db
        .transaction()
        .execute(async (trx) => {
          await last(trx, sql`insert into t values (1)`);
          await sql`insert into t values (2)`.execute(trx);
          throw new Error('roll back');
        })
        .catch(() => undefined);
      expect(await count(db, 't')).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let k = 0; k < 100; k += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('timed out');
}

await describeEachDatabase("a toggle's socket writes", (harness) => {
  it.skipIf(harness.name !== 'postgres')(
    'writes a running ⇄ warm scale in three socket writes, its commit with the marks',
    async () => {
      const api = await apiOver(harness.store());
      const capacity = { vcpus: 100, memMib: 100_000, diskGib: 100 };
      await ok(api, 'PUT', '/nodes/node-1', { hostname: 'node-1', arch: 'x86_64', capacity });
      await ok(api, 'POST', '/tenants', { id: 'acme' });
      const size = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 128 };
      await ok(api, 'POST', '/tenants/acme/pools', { id: 'web', ...size });
      await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 2 });
      const toggle = async (counts: object) => {
        const write = vi.spyOn(Socket.prototype, '_write');
        const writev = vi.spyOn(Socket.prototype, '_writev');
        try {
          await ok(api, 'POST', '/tenants/acme/pools/web/scale', counts);
          return write.mock.calls.length + writev.mock.calls.length;
        } finally {
          write.mockRestore();
          writev.mockRestore();
        }
      };
      await toggle({ running: 1, warm: 1 }); // each statement's first Parse on its connection
      await toggle({ running: 2, warm: 0 });
      // Begin with the tenant's lock and the pools with the members, the pool's and the
      // instances' write, the audit with the marks, the probe and the commit.
      expect(await toggle({ running: 1, warm: 1 })).toBe(3);
      expect(await toggle({ running: 2, warm: 0 })).toBe(3);
    },
  );
});
