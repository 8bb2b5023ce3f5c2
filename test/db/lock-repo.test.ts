import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('lock repo', (db) => {
  it('lets one transaction at a time hold a named lock on Postgres (SQLite serializes writers)', async () => {
    const other = await db.reopen();
    await db
      .store()
      .transaction(async (repos) => {
        expect(await repos.locks.tryAcquire('mvm.scheduler')).toBe(true);
        const second = await other.transaction((r) => r.locks.tryAcquire('mvm.scheduler'));
        expect(second).toBe(db.name === 'sqlite');
        expect(await other.transaction((r) => r.locks.tryAcquire('another'))).toBe(true);
      })
      .catch((error: unknown) => {
        // SQLite: the second store cannot open a write transaction while the first holds one.
        if (db.name !== 'sqlite') throw error;
      });
    // Released with the transaction.
    expect(await other.transaction((r) => r.locks.tryAcquire('mvm.scheduler'))).toBe(true);
  });
});
