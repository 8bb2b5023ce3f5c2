import { beforeEach, expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../src/core/errors.ts';
import { T1, T2, instance, keyOf, insertTwoTenants } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('instance repo', ({ store }) => {
  beforeEach(() => insertTwoTenants(store()));

  it('round-trips instances and filters them, ordered by tenant, pool, id', async () => {
    const placed = instance('w-2', 12, {
      status: 'failed',
      nodeId: 'node-1',
      revision: 'r1',
      failureReason: 'boot timed out',
    });
    await store().instances.insert(placed);
    await store().instances.insert(instance('w-1', 11));
    await store().instances.insert(instance('g-1', 2, { poolId: 'gateways', nodeId: 'node-1' }));
    await store().instances.insert(
      instance('w-1', 11, { tenantId: 'beta', mac: '02:00:00:00:00:01' }),
    );
    expect(await store().instances.get(keyOf(placed))).toEqual(placed);
    expect(await store().instances.get({ ...keyOf(placed), instanceId: 'nope' })).toBeUndefined();
    const ids = (list: Array<{ tenantId: string; poolId: string; id: string }>) =>
      list.map((i) => `${i.tenantId}/${i.poolId}/${i.id}`);
    expect(ids(await store().instances.list())).toEqual([
      'acme/gateways/g-1',
      'acme/workers/w-1',
      'acme/workers/w-2',
      'beta/workers/w-1',
    ]);
    expect(ids(await store().instances.list({ tenantId: 'acme', poolId: 'workers' }))).toEqual([
      'acme/workers/w-1',
      'acme/workers/w-2',
    ]);
    expect(ids(await store().instances.list({ nodeId: 'node-1' }))).toEqual([
      'acme/gateways/g-1',
      'acme/workers/w-2',
    ]);
    expect(await store().instances.usedIps('acme')).toEqual([
      '10.240.99.11',
      '10.240.99.12',
      '10.240.99.2',
    ]);
  });

  it('stamps statusSince when the status changes, not on a same-status write', async () => {
    const w1 = instance('w-1', 11);
    await store().instances.insert(w1);
    const running = await store().instances.transition(keyOf(w1), 'created', 'running', T1);
    expect(running.statusSince).toBe(T1);
    const same = await store().instances.transition(keyOf(w1), 'running', 'running', T2, {
      lastActiveAt: T2,
    });
    expect(same).toMatchObject({ statusSince: T1, lastActiveAt: T2 });
    const active = await store().instances.update(
      keyOf(w1),
      { lastActiveAt: T1 },
      same.version,
      T2,
    );
    expect(active).toMatchObject({ statusSince: T1, lastActiveAt: T1 });
  });

  it('refuses a duplicate key', async () => {
    await store().instances.insert(instance('w-1', 11));
    const error = await store()
      .instances.insert(instance('w-1', 12))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AlreadyExistsError);
    expect((error as Error).message).toBe("instance 'acme/workers/w-1' already exists");
  });

  it('refuses an IP already used in the tenant, in any pool', async () => {
    await store().instances.insert(instance('w-1', 11));
    const dup = instance('g-1', 11, { poolId: 'gateways', mac: '02:00:00:00:00:99' });
    const error = await store()
      .instances.insert(dup)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toBe(
      'instance ip 10.240.99.11 is already in use in tenant acme',
    );
  });

  it('allows the same IP in another tenant but refuses a duplicate MAC anywhere', async () => {
    await store().instances.insert(instance('w-1', 11));
    await store().instances.insert(
      instance('w-1', 11, { tenantId: 'beta', mac: '02:00:00:00:00:01' }),
    );
    const dup = instance('w-2', 12, { tenantId: 'beta', mac: instance('w-1', 11).mac });
    await expect(store().instances.insert(dup)).rejects.toThrow(
      /mac 02:00:0a:f0:63:0b is already in use/,
    );
  });

  it('refuses an instance of a missing pool', async () => {
    await expect(
      store().instances.insert(instance('x-1', 3, { poolId: 'ghosts' })),
    ).rejects.toThrow("pool 'acme/ghosts' not found; create the pool first");
  });

  it('sets the desired status by compare-and-set', async () => {
    const w1 = instance('w-1', 11);
    await store().instances.insert(w1);
    const updated = await store().instances.setDesired(keyOf(w1), 'sleeping', 1, T1);
    expect(updated).toEqual({ ...w1, desiredStatus: 'sleeping', updatedAt: T1, version: 2 });
    await expect(store().instances.setDesired(keyOf(w1), 'warm', 1, T2)).rejects.toThrow(
      'instance acme/workers/w-1 changed concurrently: expected version 1, found 2; reload it and retry',
    );
    expect((await store().instances.get(keyOf(w1)))?.desiredStatus).toBe('sleeping');
  });

  it('keeps the pressure-sleep marker until someone else sets the desired status', async () => {
    const w1 = instance('w-1', 11);
    await store().instances.insert(w1);
    const patch = { desiredStatus: 'sleeping', pressureSleptAt: T1 } as const;
    const held = await store().instances.update(keyOf(w1), patch, 1, T1);
    expect(held).toMatchObject({ desiredStatus: 'sleeping', pressureSleptAt: T1 });
    expect(await store().instances.get(keyOf(w1))).toEqual(held);
    const moved = await store().instances.setDesired(keyOf(w1), 'sleeping', 2, T2);
    expect(moved).toMatchObject({ desiredStatus: 'sleeping', pressureSleptAt: null, version: 3 });
  });

  it('patches by compare-and-set, clearing nullable fields too', async () => {
    const w1 = instance('w-1', 11, { failureReason: 'old' });
    await store().instances.insert(w1);
    const placed = await store().instances.update(
      keyOf(w1),
      { nodeId: 'node-2', revision: 'r9', failureReason: null },
      1,
      T1,
    );
    expect(placed).toEqual({
      ...w1,
      nodeId: 'node-2',
      revision: 'r9',
      failureReason: null,
      updatedAt: T1,
      version: 2,
    });
    await expect(store().instances.update(keyOf(w1), { nodeId: null }, 1, T2)).rejects.toThrow(
      ConflictError,
    );
    await expect(
      store().instances.update({ ...keyOf(w1), instanceId: 'nope' }, {}, 1, T2),
    ).rejects.toThrow(NotFoundError);
  });

  it('transitions only from the stored status, applying the patch', async () => {
    const w1 = instance('w-1', 11, { status: 'running' });
    await store().instances.insert(w1);
    const warm = await store().instances.transition(keyOf(w1), 'running', 'warm', T1);
    expect(warm).toEqual({ ...w1, status: 'warm', statusSince: T1, updatedAt: T1, version: 2 });
    await expect(store().instances.transition(keyOf(w1), 'running', 'warm', T2)).rejects.toThrow(
      "instance acme/workers/w-1 is 'warm', not 'running'; reload it and retry",
    );
    const failed = await store().instances.transition(keyOf(w1), 'warm', 'failed', T2, {
      failureReason: 'snapshot failed',
    });
    expect(failed).toMatchObject({
      status: 'failed',
      failureReason: 'snapshot failed',
      version: 3,
    });
    await expect(
      store().instances.transition({ ...keyOf(w1), instanceId: 'nope' }, 'warm', 'running', T2),
    ).rejects.toThrow("instance 'acme/workers/nope' not found");
  });

  it('deletes idempotently', async () => {
    const w1 = instance('w-1', 11);
    await store().instances.insert(w1);
    await store().instances.delete(keyOf(w1));
    await store().instances.delete(keyOf(w1));
    expect(await store().instances.list()).toEqual([]);
  });
});
