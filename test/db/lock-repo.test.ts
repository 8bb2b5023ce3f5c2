import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('lock repo', (db) => {
  it('lets one transaction at a time hold a named lock on Postgres (SQLite serializes writers)', async () => {
    const other = await db.reopen();
    // Answers are collected and checked after the transaction: an expect failing inside it
    // would only roll it back, and nothing here may swallow that.
    const seen = await db.store().transaction(async (repos) => ({
      first: await repos.locks.tryAcquire('mvm.scheduler'),
      second: await other.transaction((r) => r.locks.tryAcquire('mvm.scheduler')),
      another: await other.transaction((r) => r.locks.tryAcquire('another')),
    }));
    // Postgres refuses a held advisory lock; on SQLite the single writer is the exclusion, so
    // the named lock is always granted.
    expect(seen).toEqual({ first: true, second: db.name === 'sqlite', another: true });
    // Released with the transaction.
    expect(await other.transaction((r) => r.locks.tryAcquire('mvm.scheduler'))).toBe(true);
  });
});
