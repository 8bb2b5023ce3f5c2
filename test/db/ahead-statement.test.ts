import { CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { expect, it } from 'vitest';
import { aheadStatement } from '../../src/db/last-statement.ts';
import { fakeClient } from './support/fake-pg-client.ts';

/**
 * A statement marked to go with the next (`aheadStatement`, one-connection.ts' `inOrder`): on
 * a pipelined client the pool's wrapper writes it and the statement after it in one socket
 * write, the held `begin` with them (docs/scale.md, "The tenant's lock and the pools' read in
 * one round trip").
 */

/** `text` marked to be written with the next statement, as a Postgres store marks it. */
function ahead(text: string): string {
  const postgres = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: {} as unknown as pg.Pool }),
  });
  return aheadStatement(postgres, CompiledQuery.raw(text)).sql;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

it('writes begin, the marked statement and the next one in one socket write, unmarked', async () => {
  const { pool, sent, writes, answer } = fakeClient(true);
  const connection = await pool.connect();
  await connection.query('begin', []);
  const lock = connection.query(ahead('select lock'), []);
  const read = connection.query('select read', []);
  expect(sent).toEqual(['begin', 'select lock', 'select read']);
  expect(writes).toEqual([['begin', 'select lock', 'select read']]);
  answer(0);
  answer(1, [{ id: 'acme' }]);
  answer(2, [{ pools: [] }]);
  expect((await lock).rows).toEqual([{ id: 'acme' }]);
  expect((await read).rows).toEqual([{ pools: [] }]);
  // The next statement is a write of its own again.
  const after = connection.query('select after', []);
  expect(writes).toEqual([['begin', 'select lock', 'select read'], ['select after']]);
  answer(3);
  await after;
});

it('writes a marked statement that nothing follows at the end of the tick', async () => {
  const { pool, sent, writes, answer } = fakeClient(true);
  const connection = await pool.connect();
  const alone = connection.query(ahead('select alone'), []);
  expect(sent).toEqual(['select alone']);
  expect(writes).toEqual([]);
  await tick();
  expect(writes).toEqual([['select alone']]);
  answer(0);
  await alone;
  // A statement issued after that tick goes in a write of its own.
  const next = connection.query('select next', []);
  expect(writes).toEqual([['select alone'], ['select next']]);
  answer(1);
  await next;
});

it('takes the mark off and corks nothing on a client that does not pipeline', async () => {
  const { pool, sent, writes, answer } = fakeClient(false);
  const connection = await pool.connect();
  const first = connection.query(ahead('select 1'), []);
  expect(sent).toEqual(['select 1']);
  expect(writes).toEqual([['select 1']]);
  answer(0);
  await first;
});

it('uncorks on release, so the next user of the connection writes at once', async () => {
  const { pool, writes, answer } = fakeClient(true);
  const connection = await pool.connect();
  const alone = connection.query(ahead('select alone'), []);
  connection.release();
  expect(writes).toEqual([['select alone']]);
  answer(0);
  await alone;
});
