import { beforeEach, expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../src/core/errors.ts';
import { T1, T2, instance, pool, tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('pool repo', ({ store }) => {
  beforeEach(async () => {
    await store().tenants.insert(tenant('acme', 1));
    await store().tenants.insert(tenant('beta', 2));
  });

  it('round-trips pools, booleans and counts included, ordered by tenant then id', async () => {
    const built = pool('beta', 'builders', {
      role: 'builder',
      revision: 'sha256-abc',
      pinned: true,
      critical: false,
      minRunningSecs: 300,
      minWarmSecs: 45,
    });
    await store().pools.insert(pool('beta', 'a'));
    await store().pools.insert(built);
    await store().pools.insert(pool('acme', 'workers'));
    expect(await store().pools.get('beta', 'builders')).toEqual(built);
    expect(await store().pools.get('acme', 'builders')).toBeUndefined();
    const all = await store().pools.list();
    expect(all.map((p) => `${p.tenantId}/${p.id}`)).toEqual([
      'acme/workers',
      'beta/a',
      'beta/builders',
    ]);
    expect((await store().pools.list({ tenantId: 'beta' })).map((p) => p.id)).toEqual([
      'a',
      'builders',
    ]);
  });

  it('refuses a duplicate (tenant, id) but allows the same id in another tenant', async () => {
    await store().pools.insert(pool('acme', 'workers'));
    await store().pools.insert(pool('beta', 'workers'));
    await expect(store().pools.insert(pool('acme', 'workers'))).rejects.toThrow(AlreadyExistsError);
  });

  it('refuses a pool of a missing tenant', async () => {
    await expect(store().pools.insert(pool('ghost', 'workers'))).rejects.toThrow(
      "tenant 'ghost' not found; create the tenant first",
    );
  });

  it('applies a patch by compare-and-set', async () => {
    await store().pools.insert(pool());
    const counts = { running: 5, warm: 0, sleeping: 3 };
    const once = await store().pools.update('acme', 'workers', { counts, pinned: true }, 1, T1);
    expect(once).toEqual({ ...pool(), counts, pinned: true, updatedAt: T1, version: 2 });
    const twice = await store().pools.update(
      'acme',
      'workers',
      { revision: 'sha256-x', critical: false },
      2,
      T2,
    );
    expect(twice).toEqual({
      ...once,
      revision: 'sha256-x',
      critical: false,
      updatedAt: T2,
      version: 3,
    });
    expect(await store().pools.get('acme', 'workers')).toEqual(twice);
    const policy = { minRunningSecs: 60, minWarmSecs: 600 };
    const thrice = await store().pools.update('acme', 'workers', policy, 3, T2);
    expect(thrice).toEqual({ ...twice, ...policy, version: 4 });
  });

  it('reports a stale patch as a conflict and a missing pool as not found', async () => {
    await store().pools.insert(pool());
    await store().pools.update('acme', 'workers', { pinned: true }, 1, T1);
    await expect(store().pools.update('acme', 'workers', { pinned: false }, 1, T2)).rejects.toThrow(
      'pool acme/workers changed concurrently: expected version 1, found 2; reload it and retry',
    );
    expect((await store().pools.get('acme', 'workers'))?.pinned).toBe(true);
    await expect(store().pools.update('acme', 'nope', {}, 1, T1)).rejects.toThrow(NotFoundError);
  });

  it('refuses to delete a pool with instances, then deletes idempotently', async () => {
    await store().pools.insert(pool());
    await store().instances.insert(instance());
    await expect(store().pools.delete('acme', 'workers')).rejects.toThrow(ConflictError);
    await store().instances.delete({ tenantId: 'acme', poolId: 'workers', instanceId: 'w-1' });
    await store().pools.delete('acme', 'workers');
    await store().pools.delete('acme', 'workers');
    expect(await store().pools.list()).toEqual([]);
  });
});
