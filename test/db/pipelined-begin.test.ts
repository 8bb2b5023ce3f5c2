import { sql } from 'kysely';
import { Socket } from 'node:net';
import { expect, it, vi } from 'vitest';
import { openDatabase } from '../../src/db/open-store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fakeClient } from './support/fake-pg-client.ts';

it("writes a pipelined transaction's begin together with its first statement", async () => {
  const { pool, sent, answer } = fakeClient(true);
  const connection = await pool.connect();
  // Kysely awaits its begin: answered at once, nothing written yet.
  await connection.query('begin', []);
  expect(sent).toEqual([]);
  const first = connection.query<{ n: number }>('select $1 as n', [1]);
  // Both written before either is answered.
  expect(sent).toEqual(['begin', 'select $1 as n']);
  answer(0);
  answer(1, [{ n: 1 }]);
  expect((await first).rows).toEqual([{ n: 1 }]);
  // The next statements go one by one, as before.
  const commit = connection.query('commit', []);
  expect(sent).toEqual(['begin', 'select $1 as n', 'commit']);
  answer(2);
  await commit;
});

it('sends nothing for a pipelined transaction rolled back before its first statement', async () => {
  const { pool, sent } = fakeClient(true);
  const connection = await pool.connect();
  await connection.query('begin', []);
  await connection.query('rollback', []);
  expect(sent).toEqual([]);
});

it('fails the first statement when its begin failed', async () => {
  const { pool, answer, fail } = fakeClient(true);
  const connection = await pool.connect();
  await connection.query('begin', []);
  const first = connection.query('select 1', []);
  fail(0, new Error('begin refused'));
  answer(1);
  await expect(first).rejects.toThrow('begin refused');
});

it('sends the begin alone on a client that does not pipeline', async () => {
  const { pool, sent, answer } = fakeClient(false);
  const connection = await pool.connect();
  const begun = connection.query('begin', []);
  expect(sent).toEqual(['begin']);
  answer(0);
  await begun;
});

await describeEachDatabase('a transaction begun with its first statement', (db) => {
  it.skipIf(db.name !== 'postgres')(
    'runs its first statement inside the transaction, committed or rolled back with the rest',
    async () => {
      // The store migrated the harness's database; this is a Kysely of its own on it.
      await db.store().tenants.list();
      const { db: kysely } = openDatabase(db.url());
      try {
        const xid = sql<{ xid: string }>`select pg_current_xact_id()::text as xid`;
        const ids = await kysely.transaction().execute(async (trx) => {
          const [first] = (await xid.execute(trx)).rows;
          const [second] = (await xid.execute(trx)).rows;
          return [first?.xid, second?.xid];
        });
        expect(ids[0]).toBeDefined();
        expect(ids[0]).toBe(ids[1]);
        // A first statement that writes is undone with the transaction.
        const event = { at: '2026-01-01T00:00:00.000Z', actor: 't', action: 'undone' };
        const row = { ...event, tenant_id: null, target: 'x', detail: '{}' };
        await kysely
          .transaction()
          .execute(async (trx) => {
            await trx.insertInto('audit_events').values(row).execute();
            throw new Error('roll back');
          })
          .catch(() => undefined);
        const kept = await kysely
          .selectFrom('audit_events')
          .select('id')
          .where('action', '=', 'undone')
          .execute();
        expect(kept).toEqual([]);
      } finally {
        await kysely.destroy();
      }
    },
  );

  it.skipIf(db.name !== 'postgres')(
    'writes the begin and the first statement to the socket in one write',
    async () => {
      await db.store().tenants.list();
      const { db: kysely } = openDatabase(`${db.url()}?pool_max=1`);
      const transaction = () =>
        kysely.transaction().execute(async (trx) => {
          await sql`select 1 as one`.execute(trx);
          await sql`select 2 as two`.execute(trx);
        });
      try {
        await transaction(); // the connection's own start-up writes
        const write = vi.spyOn(Socket.prototype, '_write');
        const writev = vi.spyOn(Socket.prototype, '_writev');
        try {
          await transaction();
          // begin with the first select, the second select, commit.
          expect(write.mock.calls.length + writev.mock.calls.length).toBe(3);
        } finally {
          write.mockRestore();
          writev.mockRestore();
        }
      } finally {
        await kysely.destroy();
      }
    },
  );
});
