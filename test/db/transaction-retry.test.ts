import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/core/errors.ts';
import { isTransientAbort, retryingTransientAborts } from '../../src/db/transaction-retry.ts';
import { tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

function failure(code: string, message = `failed with ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

const noPause = { pause: () => Promise.resolve() };

describe('retryingTransientAborts', () => {
  it('runs a transaction again after a deadlock or serialization failure', async () => {
    const codes = ['40P01', '40001'];
    let runs = 0;
    const result = await retryingTransientAborts(async () => {
      runs += 1;
      const code = codes.shift();
      if (code !== undefined) throw failure(code);
      return 'committed';
    }, noPause);
    expect({ result, runs }).toEqual({ result: 'committed', runs: 3 });
  });

  it('gives up after a bounded number of attempts with a 503 that says to retry', async () => {
    let runs = 0;
    const error = await retryingTransientAborts(
      () => {
        runs += 1;
        return Promise.reject(failure('40P01', 'deadlock detected'));
      },
      { ...noPause, attempts: 4 },
    ).catch((e: unknown) => e);
    expect(runs).toBe(4);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/aborted this change 4 times.*retry it/);
  });

  it('answers a busy SQLite database with a 503 at once, and passes other errors on', async () => {
    let runs = 0;
    const busy = await retryingTransientAborts(() => {
      runs += 1;
      return Promise.reject(failure('SQLITE_BUSY', 'database is locked'));
    }, noPause).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(UnavailableError);
    expect(runs).toBe(1);
    const unique = failure('23505');
    await expect(retryingTransientAborts(() => Promise.reject(unique), noPause)).rejects.toBe(
      unique,
    );
    expect(isTransientAbort(unique)).toBe(false);
    expect(isTransientAbort(new Error('no code'))).toBe(false);
  });
});

await describeEachDatabase('store transactions', (db) => {
  it.skipIf(db.name !== 'postgres')(
    'survive a real deadlock: the victim runs again and both commit',
    async () => {
      await db.store().tenants.insert(tenant('acme', 1));
      await db.store().tenants.insert(tenant('beta', 2));
      const other = await db.reopen();
      let runs = 0;
      const locked: Record<string, () => void> = {};
      const firstLocked = new Promise<void>((resolve) => (locked.acme = resolve));
      const secondLocked = new Promise<void>((resolve) => (locked.beta = resolve));
      // Each locks one tenant, waits for the other to lock the other, then wants it too.
      const crossing =
        (first: 'acme' | 'beta', then: 'acme' | 'beta', wait: Promise<void>) =>
        async (repos: Parameters<Parameters<typeof other.transaction>[0]>[0]) => {
          runs += 1;
          await repos.tenants.lock(first);
          locked[first]?.();
          await wait;
          return (await repos.tenants.lock(then))?.id;
        };
      const results = await Promise.all([
        db.store().transaction(crossing('acme', 'beta', secondLocked)),
        other.transaction(crossing('beta', 'acme', firstLocked)),
      ]);
      expect(results).toEqual(['beta', 'acme']);
      expect(runs).toBe(3);
    },
  );
});
