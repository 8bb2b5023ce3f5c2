import { beforeEach, expect, it } from 'vitest';
import type { Instance } from '../../src/core/model.ts';
import type { Repos } from '../../src/ports/store.ts';
import { T1, T2, instance, insertTwoTenants, keyOf, pool } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

/**
 * The store's side of a scale's write path (docs/scale.md, "A toggle's own cost"): the pool's
 * instances read as the scale weighs them, and the audit event appended with the marks.
 */

const weighed = (i: Instance) => ({
  tenantId: i.tenantId,
  poolId: i.poolId,
  id: i.id,
  status: i.status,
  desiredStatus: i.desiredStatus,
  nodeId: i.nodeId,
  statusSince: i.statusSince,
  lastActiveAt: i.lastActiveAt,
  pressureSleptAt: i.pressureSleptAt,
  idleSlot: i.idleSlot,
  version: i.version,
});

const event = (action: string) => ({
  tenantId: 'acme',
  at: T2,
  actor: 'admin',
  action,
  target: 'acme/workers',
  detail: { from: { running: 1 }, to: { running: 2 } },
});

await describeEachDatabase('scale write path', ({ store, name }) => {
  beforeEach(() => insertTwoTenants(store()));

  it("reads one pool's instances with the columns a scale weighs, as the full rows say them", async () => {
    const rows = [
      instance('w-3', 13, { status: 'running', nodeId: null, lastActiveAt: T1 }),
      instance('w-1', 11, { desiredStatus: 'destroyed', status: 'destroyed' }),
      instance('w-2', 12, { desiredStatus: 'warm', pressureSleptAt: T1, idleSlot: 'running' }),
      instance('g-1', 14, { poolId: 'gateways' }),
      instance('w-9', 15, { tenantId: 'beta', mac: '02:00:0a:f0:62:0f', ip: '10.240.98.15' }),
    ];
    for (const row of rows) await store().instances.insert(row);
    const changed = await store().instances.setDesired(keyOf(rows[0]!), 'warm', 1, T2);
    expect(changed.version).toBe(2);

    const members = await store().instances.poolMembers('acme', 'workers');
    const full = await store().instances.list({ tenantId: 'acme', poolId: 'workers' });
    expect(members.map((m) => m.id)).toEqual(['w-1', 'w-2', 'w-3']);
    expect(members).toEqual(full.map(weighed));
    expect(members.find((m) => m.id === 'w-3')).toMatchObject({
      desiredStatus: 'warm',
      version: 2,
    });
    expect(await store().instances.poolMembers('acme', 'nothing')).toEqual([]);

    // The tenant's pools and the pool's members, read together, say what each read says.
    const pools = await store().pools.list({ tenantId: 'acme' });
    expect(pools.map((p) => p.id)).toEqual(['gateways', 'workers']);
    expect(await store().pools.withMembers('acme', 'workers')).toEqual({ pools, members });
    expect(await store().pools.withMembers('acme', 'gateways')).toEqual({
      pools,
      members: await store().instances.poolMembers('acme', 'gateways'),
    });
    expect(await store().pools.withMembers('acme', 'nothing')).toEqual({
      pools,
      members: undefined,
    });
    await store().pools.insert(pool('acme', 'empty'));
    const empty = await store().pools.withMembers('acme', 'empty');
    expect(empty.members).toEqual([]);
    expect(empty.pools.map((p) => p.id)).toEqual(['empty', 'gateways', 'workers']);
    expect(await store().pools.withMembers('nobody', 'workers')).toEqual({
      pools: [],
      members: undefined,
    });
  });

  it('appends the audit event with the marks, in the transaction, or neither', async () => {
    const marks = () => store().generations.marksOf(['node:a', 'tenant:acme']);
    await store().transaction((repos) =>
      repos.generations.markChanged(['tenant:acme', 'node:a'], event('pool.scale')),
    );
    expect(await marks()).toEqual(
      new Map([
        ['node:a', 1],
        ['tenant:acme', 1],
      ]),
    );
    const logged = await store().audit.list({ tenantId: 'acme', limit: 10 });
    expect(logged).toEqual([{ id: expect.any(Number) as number, ...event('pool.scale') }]);

    // No scope moved: the event alone; a write rolled back leaves neither.
    await store().transaction((repos) => repos.generations.markChanged([], event('pool.empty')));
    await expect(
      store().transaction(async (repos) => {
        await repos.generations.markChanged(['node:a'], event('pool.undone'));
        throw new Error(`rolled back on ${name}`);
      }),
    ).rejects.toThrow('rolled back');
    const actions = (await store().audit.list({ tenantId: 'acme', limit: 10 })).map(
      (e) => e.action,
    );
    expect(actions).toEqual(['pool.empty', 'pool.scale']);
    expect((await marks()).get('node:a')).toBe(1);
  });

  it("moves the marks with the audit event and answers the scheduler's probe as the transaction sees it", async () => {
    const marks = () => store().generations.marksOf(['node:a', 'tenant:acme']);
    const probe = (write: (repos: Repos) => Promise<void>) =>
      store().transaction(async (repos) => {
        await write(repos);
        return repos.generations.markChangedProbing(['tenant:acme', 'node:a'], event('pool.scale'));
      });
    // Nothing unplaced and nothing held: no work.
    await store().instances.insert(instance('w-1', 11, { nodeId: 'a', status: 'running' }));
    expect(await probe(async () => undefined)).toBe(false);
    expect(await marks()).toEqual(
      new Map([
        ['node:a', 1],
        ['tenant:acme', 1],
      ]),
    );
    // The transaction's own write, before the bump, is what the probe sees.
    expect(
      await probe((repos) => repos.instances.insert(instance('w-2', 12, { nodeId: null }))),
    ).toBe(true);
    await store().instances.delete({ tenantId: 'acme', poolId: 'workers', instanceId: 'w-2' });
    expect(await probe(async () => undefined)).toBe(false);
    const held = { nodeId: 'a', status: 'warm' as const, desiredStatus: 'warm' as const };
    expect(
      await probe((repos) =>
        repos.instances.insert(instance('w-3', 13, { ...held, pressureSleptAt: T2 })),
      ),
    ).toBe(true);
    // Without an audit event, and with no scope moved, it answers the same.
    expect(
      await store().transaction((repos) => repos.generations.markChangedProbing(['node:a'])),
    ).toBe(true);
    expect(await store().transaction((repos) => repos.generations.markChangedProbing([]))).toBe(
      true,
    );
    expect((await marks()).get('node:a')).toBe(5);
    const actions = (await store().audit.list({ tenantId: 'acme', limit: 10 })).map(
      (e) => e.action,
    );
    expect(actions).toEqual(['pool.scale', 'pool.scale', 'pool.scale', 'pool.scale']);
  });
});
