import { expect, it } from 'vitest';
import type { Repos, Store } from '../../src/ports/store.ts';
import { T1, tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A transaction that holds what `take` locks until release() is called; `holding` resolves
 * once it does. Steps are recorded in `order`.
 */
function holder(store: Store, order: string[], take: (repos: Repos) => Promise<void>) {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding = () => {};
  const held = new Promise<void>((resolve) => (holding = resolve));
  const done = store.transaction(async (repos) => {
    await take(repos);
    order.push('holder locked');
    holding();
    await released;
    order.push('holder commits');
  });
  return { held, release, done };
}

await describeEachDatabase('tenant lock', (db) => {
  it('returns the tenant as stored, or undefined when there is none', async () => {
    await db.store().tenants.insert(tenant('acme', 1));
    const seen = await db.store().transaction(async (repos) => ({
      acme: await repos.tenants.lock('acme'),
      nope: await repos.tenants.lock('nope'),
      all: await repos.tenants.lockAll(),
    }));
    expect(seen).toEqual({ acme: tenant('acme', 1), nope: undefined, all: undefined });
  });

  it.skipIf(db.name !== 'postgres')(
    'makes a second locker wait for the first to commit, then read what it wrote',
    async () => {
      await db.store().tenants.insert(tenant('acme', 1));
      const other = await db.reopen();
      const order: string[] = [];
      const first = holder(db.store(), order, async (repos) => {
        await repos.tenants.lock('acme');
        const quotas = { ...tenant().quotas, maxRunning: 1 };
        await repos.tenants.update('acme', { quotas }, 1, T1);
      });
      await first.held;
      const second = other.transaction(async (repos) => {
        const locked = await repos.tenants.lock('acme');
        order.push('second locked');
        return locked;
      });
      await pause(200);
      first.release();
      const [, seen] = await Promise.all([first.done, second]);
      expect(order).toEqual(['holder locked', 'holder commits', 'second locked']);
      expect(seen?.quotas.maxRunning).toBe(1);
      expect(seen?.version).toBe(2);
    },
  );

  it.skipIf(db.name !== 'postgres')(
    'answers a waiter on a tenant destroyed meanwhile with no tenant',
    async () => {
      await db.store().tenants.insert(tenant('acme', 1));
      const other = await db.reopen();
      const order: string[] = [];
      const destroy = holder(db.store(), order, async (repos) => {
        await repos.tenants.lock('acme');
        await repos.tenants.delete('acme');
      });
      await destroy.held;
      const waiter = other.transaction((repos) => repos.tenants.lock('acme'));
      await pause(100);
      destroy.release();
      const [, seen] = await Promise.all([destroy.done, waiter]);
      expect(seen).toBeUndefined();
    },
  );

  it.skipIf(db.name !== 'postgres')('makes lockAll wait for any tenant held', async () => {
    await db.store().tenants.insert(tenant('acme', 1));
    await db.store().tenants.insert(tenant('beta', 2));
    const other = await db.reopen();
    const order: string[] = [];
    const first = holder(db.store(), order, async (repos) => {
      await repos.tenants.lock('beta');
    });
    await first.held;
    const all = other.transaction(async (repos) => {
      await repos.tenants.lockAll();
      order.push('all locked');
    });
    await pause(200);
    first.release();
    await Promise.all([first.done, all]);
    expect(order).toEqual(['holder locked', 'holder commits', 'all locked']);
  });
});
