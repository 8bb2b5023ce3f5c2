import { expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../src/core/errors.ts';
import { T1, pool, tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('tenant repo', ({ store }) => {
  it('round-trips a tenant and lists tenants by id', async () => {
    await store().tenants.insert(tenant('zeta', 2));
    await store().tenants.insert(tenant('acme', 1));
    expect(await store().tenants.get('acme')).toEqual(tenant('acme', 1));
    expect(await store().tenants.get('nope')).toBeUndefined();
    expect((await store().tenants.list()).map((t) => t.id)).toEqual(['acme', 'zeta']);
    expect(await store().tenants.networks()).toEqual([
      { tenantId: 'acme', netId: 1, subnet: '10.240.1.0/24' },
      { tenantId: 'zeta', netId: 2, subnet: '10.240.2.0/24' },
    ]);
  });

  it('refuses a duplicate id', async () => {
    await store().tenants.insert(tenant('acme', 1));
    const error = await store()
      .tenants.insert(tenant('acme', 2))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AlreadyExistsError);
    expect((error as Error).message).toBe("tenant 'acme' already exists");
  });

  it('refuses a duplicate net id, naming it', async () => {
    await store().tenants.insert(tenant('acme', 7));
    const dup = tenant('beta', 7, { subnet: '10.240.200.0/24' });
    const error = await store()
      .tenants.insert(dup)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).toContain('net id 7');
    expect((error as ConflictError).details).toEqual({ field: 'netId', value: 7 });
  });

  it('refuses a duplicate subnet, naming it', async () => {
    await store().tenants.insert(tenant('acme', 7));
    const dup = tenant('beta', 8, { subnet: '10.240.7.0/24' });
    const error = await store()
      .tenants.insert(dup)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).toContain('subnet 10.240.7.0/24');
  });

  it('updates quotas by compare-and-set', async () => {
    await store().tenants.insert(tenant());
    const quotas = { ...tenant().quotas, maxVcpus: 128 };
    const updated = await store().tenants.update('acme', { quotas }, 1, T1);
    expect(updated).toEqual({ ...tenant(), quotas, updatedAt: T1, version: 2 });
    expect(await store().tenants.get('acme')).toEqual(updated);
  });

  it('reports a stale quota update as a conflict and leaves the row alone', async () => {
    await store().tenants.insert(tenant());
    await store().tenants.update('acme', { quotas: tenant().quotas }, 1, T1);
    const stale = store().tenants.update('acme', { quotas: tenant().quotas }, 1, T1);
    await expect(stale).rejects.toThrow(ConflictError);
    await expect(stale).rejects.toThrow(
      'tenant acme changed concurrently: expected version 1, found 2; reload it and retry',
    );
    expect((await store().tenants.get('acme'))?.version).toBe(2);
  });

  it('reports an update of a missing tenant as not found', async () => {
    await expect(
      store().tenants.update('ghost', { quotas: tenant().quotas }, 1, T1),
    ).rejects.toThrow(NotFoundError);
  });

  it('deletes idempotently but refuses while pools remain', async () => {
    await store().tenants.insert(tenant());
    await store().pools.insert(pool());
    await expect(store().tenants.delete('acme')).rejects.toThrow(
      'tenant acme still has pools; delete its pools first',
    );
    await store().pools.delete('acme', 'workers');
    await store().tenants.delete('acme');
    await store().tenants.delete('acme');
    expect(await store().tenants.get('acme')).toBeUndefined();
  });
});
