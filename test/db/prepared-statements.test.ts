import { sql } from 'kysely';
import pg from 'pg';
import { expect, it } from 'vitest';
import { KyselyStore } from '../../src/db/kysely-store.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import { PreparedStatements } from '../../src/db/postgres-pool.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { tenant } from './fixtures.ts';

it('names at most MAX texts, and moves to new names once per refusal', () => {
  const prepared = new PreparedStatements();
  prepared.add('select 1');
  prepared.add('select 1');
  expect(prepared.nameOf('select 1')).toBe('mvm_0_1');
  expect(prepared.nameOf('select 2')).toBeUndefined();
  for (let i = 0; i < PreparedStatements.MAX + 10; i += 1) prepared.add(`select ${i + 2}`);
  expect(prepared.size).toBe(PreparedStatements.MAX);
  expect(prepared.nameOf(`select ${PreparedStatements.MAX + 5}`)).toBeUndefined();
  // Two statements refused under the same epoch move it on once.
  prepared.renew('mvm_0_1');
  prepared.renew('mvm_0_2');
  expect(prepared.nameOf('select 1')).toBe('mvm_1_1');
});

await describeEachDatabase('named prepared statements', (db) => {
  /** A store over one connection, so the session's prepared statements can be read. */
  async function oneConnection() {
    // The harness's store migrated the database.
    await db.store().tenants.insert(tenant('acme', 1));
    const url = `${db.url()}${db.url().includes('?') ? '&' : '?'}pool_max=1`;
    const { db: kysely, dialect, prepared } = openDatabase(url);
    const store = new KyselyStore(kysely, dialect, prepared ? { prepared } : {});
    const session = async () =>
      (
        await sql<{ name: string; statement: string }>`
          select name, statement from pg_prepared_statements order by prepare_time, name`.execute(
          kysely,
        )
      ).rows;
    return { store, session };
  }

  it.skipIf(db.name !== 'postgres')(
    "runs the store's compiled statements prepared once per connection, the others unnamed",
    async () => {
      const { store, session } = await oneConnection();
      try {
        for (let i = 0; i < 3; i += 1) {
          expect(await store.tenants.lock('acme')).toEqual(tenant('acme', 1));
          await store.transaction((repos) => repos.tenants.lock('acme'));
        }
        // Not compiled: built per call, sent unnamed.
        await store.tenants.get('acme');
        const named = await session();
        expect(named).toHaveLength(1);
        expect(named[0]?.name).toBe('mvm_0_1');
        expect(named[0]?.statement).toMatch(
          /^select \* from "tenants" where "id" = \$1 for update$/,
        );
      } finally {
        await store.close();
      }
    },
  );

  it.skipIf(db.name !== 'postgres')(
    "runs a watcher's two reads prepared: the changes since a cursor and the marks of many scopes",
    async () => {
      const { store, session } = await oneConnection();
      try {
        await store.generations.markChanged(['tenant:acme']);
        const scopes = Array.from({ length: 40 }, (_, i) => `tenant:t${i}`);
        for (let i = 0; i < 3; i += 1) {
          expect(await store.instances.documentChanges(0, 10)).toMatchObject({ rows: [] });
          // Another number of scopes, the same statement (one array parameter).
          const marks = await store.generations.marksOf(['tenant:acme', ...scopes.slice(i)]);
          expect(marks.get('tenant:acme')).toBeGreaterThan(0);
        }
        const statements = (await session()).map((s) => s.statement);
        // Each once (the third is the marks' bump, compiled as well).
        expect(statements).toHaveLength(3);
        expect(statements.filter((s) => /FROM instance_tombstones/.test(s))).toHaveLength(1);
        expect(statements.filter((s) => /scope = ANY\(\$1::text\[\]\)/.test(s))).toHaveLength(1);
      } finally {
        await store.close();
      }
    },
  );

  it.skipIf(db.name !== 'postgres')(
    "carries on when another process's migration changes the columns a prepared statement returns",
    async () => {
      const { store, session } = await oneConnection();
      const migrate = async (ddl: string) => {
        const admin = new pg.Client({ connectionString: db.url() });
        await admin.connect();
        try {
          await admin.query(ddl);
        } finally {
          await admin.end();
        }
      };
      try {
        // Past Postgres' five custom plans, so a generic plan is kept too.
        for (let i = 0; i < 7; i += 1) await store.tenants.lock('acme');
        await migrate('alter table tenants add column migrated_a integer');
        // Outside a transaction: refused, prepared afresh and sent again.
        expect(await store.tenants.lock('acme')).toEqual(tenant('acme', 1));
        await migrate('alter table tenants add column migrated_b integer');
        // In a transaction: the refusal aborts it, and the store runs it again.
        let runs = 0;
        const locked = await store.transaction(async (repos) => {
          runs += 1;
          return repos.tenants.lock('acme');
        });
        expect(locked).toEqual(tenant('acme', 1));
        expect(runs).toBe(2);
        // Each refusal named the statement afresh; the stale names stay unused on the session.
        expect((await session()).map((s) => s.name)).toEqual(['mvm_0_1', 'mvm_1_1', 'mvm_2_1']);
      } finally {
        await store.close();
      }
    },
  );
});
