import SqliteDatabase from 'better-sqlite3';
import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('lock repo', (db) => {
  it.skipIf(db.name !== 'postgres')(
    'lets one transaction at a time hold a named lock on Postgres',
    async () => {
      const other = await db.reopen();
      // Answers are collected and checked after the transaction: an expect failing inside it
      // would only roll it back, and nothing here may swallow that.
      const seen = await db.store().transaction(async (repos) => ({
        first: await repos.locks.tryAcquire('mvm.scheduler'),
        second: await other.transaction((r) => r.locks.tryAcquire('mvm.scheduler')),
        another: await other.transaction((r) => r.locks.tryAcquire('another')),
      }));
      expect(seen).toEqual({ first: true, second: false, another: true });
      // Released with the transaction.
      expect(await other.transaction((r) => r.locks.tryAcquire('mvm.scheduler'))).toBe(true);
    },
  );

  it.skipIf(db.name !== 'postgres')(
    'makes a second acquire of a held name wait until the holder ends',
    async () => {
      const other = await db.reopen();
      const order: string[] = [];
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      const first = db.store().transaction(async (repos) => {
        await repos.locks.acquire('mvm.tenant-networks');
        order.push('first holds');
        await held;
        order.push('first ends');
      });
      // The second asks only once the first holds the lock.
      while (order.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const second = other.transaction(async (repos) => {
        await repos.locks.acquire('mvm.tenant-networks');
        order.push('second holds');
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      await Promise.all([first, second]);
      expect(order).toEqual(['first holds', 'first ends', 'second holds']);
    },
  );

  it.skipIf(db.name !== 'sqlite')(
    'grants named locks on SQLite, where a transaction holds the write lock from its BEGIN',
    async () => {
      // A connection of another process's kind, that waits for nothing.
      const outsider = new SqliteDatabase(db.url(), { timeout: 0 });
      try {
        const seen = await db.store().transaction(async (repos) => {
          const granted = {
            tryAcquire: await repos.locks.tryAcquire('mvm.scheduler'),
            acquire: (await repos.locks.acquire('mvm.tenant-networks')) === undefined,
          };
          // Nothing written yet, and still no other writer may begin (BEGIN IMMEDIATE).
          let outsiderWrite = 'began';
          try {
            outsider.exec('begin immediate');
            outsider.exec('rollback');
          } catch (error) {
            outsiderWrite = (error as { code?: string }).code ?? String(error);
          }
          return { ...granted, outsiderWrite };
        });
        expect(seen).toEqual({ tryAcquire: true, acquire: true, outsiderWrite: 'SQLITE_BUSY' });
        outsider.exec('begin immediate');
        outsider.exec('rollback');
      } finally {
        outsider.close();
      }
    },
  );
});
