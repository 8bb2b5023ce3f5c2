import { afterEach, beforeEach, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open-store.ts';
import { poolMembers } from '../../src/db/repos/pool-members.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T1, insertTwoTenants, instance, pool } from './fixtures.ts';

/**
 * A scale's read of its tenant's pools and its pool's members (`pools.withMembers`; on
 * Postgres one statement, docs/scale.md "What Postgres spends per toggle"): the same pools as
 * `pools.list` and the same members, in the same order, as `poolMembers`' own select.
 */
await describeEachDatabase('a tenant pools with a pool members', ({ store, url }) => {
  let opened: ReturnType<typeof openDatabase> | undefined;
  afterEach(async () => {
    await opened?.db.destroy();
    opened = undefined;
  });

  beforeEach(async () => {
    await insertTwoTenants(store());
    await store().pools.insert(pool('acme', 'a-first'));
    // Inserted out of id order, with every nullable column null in some and set in others.
    const members = [
      instance('w-10', 20, { nodeId: 'n1', status: 'running', desiredStatus: 'warm' }),
      instance('w-9', 19, { nodeId: null, statusSince: null, lastActiveAt: T1 }),
      instance('w-1', 11, { nodeId: 'n2', desiredStatus: 'sleeping', pressureSleptAt: T1 }),
      instance('w-2', 12, { nodeId: 'n2', desiredStatus: 'warm', idleSlot: 'warm' }),
      instance('x', 13, { poolId: 'gateways', nodeId: 'n1' }),
    ];
    for (const m of members) await store().instances.insert(m);
    await store().instances.insert(
      instance('w-1', 14, { tenantId: 'beta', mac: '02:00:00:00:00:01', nodeId: 'n1' }),
    );
  });

  async function expected(tenantId: string, poolId: string) {
    opened ??= openDatabase(url());
    const pools = await store().pools.list({ tenantId });
    const found = pools.some((p) => p.id === poolId);
    return { pools, members: found ? await poolMembers(opened.db, tenantId, poolId) : undefined };
  }

  it('answers the pools and the members as read one after the other', async () => {
    for (const [tenantId, poolId] of [
      ['acme', 'workers'],
      ['acme', 'gateways'],
      ['acme', 'a-first'],
      ['beta', 'workers'],
      ['acme', 'ghost'],
      ['ghost', 'workers'],
    ] as const) {
      const answer = await store().pools.withMembers(tenantId, poolId);
      expect(answer).toEqual(await expected(tenantId, poolId));
    }
    const { pools, members } = await store().pools.withMembers('acme', 'workers');
    expect(pools.map((p) => p.id)).toEqual(['a-first', 'gateways', 'workers']);
    expect(members?.map((m) => m.id)).toEqual(['w-1', 'w-10', 'w-2', 'w-9']);
    expect(members?.find((m) => m.id === 'w-2')).toMatchObject({
      desiredStatus: 'warm',
      idleSlot: 'warm',
      nodeId: 'n2',
      pressureSleptAt: null,
      version: 1,
    });
  });

  it('answers a pool with no members as an empty list', async () => {
    await store().pools.insert(pool('beta', 'empty'));
    expect(await store().pools.withMembers('beta', 'empty')).toEqual(
      await expected('beta', 'empty'),
    );
    expect((await store().pools.withMembers('beta', 'empty')).members).toEqual([]);
  });
});
