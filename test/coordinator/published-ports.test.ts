/**
 * Published ports and sleep/wake hooks through the coordinator, on SQLite and Postgres: stored
 * on the pool, carried in the node's signed document, and a host port held by one pool in the
 * fleet: another pool of any tenant asking for it gets a 409 naming the owner and changes
 * nothing, and when many pools race for one port exactly one gets it (the store's key).
 */
import { expect, it } from 'vitest';
import { verifyEnvelope } from '../../src/agent/desired/verify-desired.ts';
import type { NodeDesired, SignedEnvelope } from '../../src/contract/desired.ts';
import { openStore } from '../../src/db/open-store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, errorCode, type Api, expectOk } from './api-client-harness.ts';

const POOL = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 256, dataDiskMib: 128 };
const HOOKS = {
  beforeSleep: ['openclaw', 'gateway', 'suspend'],
  afterWake: ['openclaw', 'gateway', 'resume'],
};

async function tenant(api: Api, id: string): Promise<void> {
  await expectOk(api, 'POST', '/tenants', { id });
}

async function documentOf(api: Api, node: string): Promise<NodeDesired> {
  const response = await api.call('GET', `/nodes/${node}/desired`);
  expect(response.status).toBe(200);
  const key = ((await api.call('GET', '/signing-key')).body as { publicKeyPem: string })
    .publicKeyPem;
  return verifyEnvelope(response.body as SignedEnvelope, {
    trustedKeys: [key],
    lastGeneration: 0,
    production: true,
    nodeId: node,
  }).document;
}

await describeEachDatabase('published ports and hooks', (db) => {
  it("keeps where a node's published ports listen, from its heartbeats, and refuses a bad one", async () => {
    const api = await apiOver(db.store());
    const capacity = { vcpus: 8, memMib: 8192, diskGib: 100 };
    await expectOk(api, 'PUT', '/nodes/n1', { hostname: 'n1.test', arch: 'x86_64', capacity });
    const usage = { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1_000 };
    const beat = (publishAddress: string) =>
      api.call('POST', '/nodes/n1/heartbeat', {
        body: { capacity, usage: { ...usage, publishAddress }, instances: [] },
      });
    expect((await beat('10.1.2.3')).status).toBe(200);
    expect(await expectOk(api, 'GET', '/nodes/n1')).toMatchObject({
      usage: { publishAddress: '10.1.2.3' },
    });
    const refused = await beat('not an address');
    expect(refused.status).toBe(400);
    expect(await expectOk(api, 'GET', '/nodes/n1')).toMatchObject({
      usage: { publishAddress: '10.1.2.3' },
    });
  });

  it('stores them on the pool and carries them in the node document', async () => {
    const api = await apiOver(db.store());
    await expectOk(api, 'PUT', '/nodes/n1', {
      hostname: 'n1.test',
      arch: 'x86_64',
      capacity: { vcpus: 8, memMib: 8192, diskGib: 100 },
    });
    await tenant(api, 'acme');
    const created = (await expectOk(api, 'POST', '/tenants/acme/pools', {
      id: 'gw',
      ...POOL,
      publish: [{ hostPort: 18789, guestPort: 18789 }],
      hooks: HOOKS,
    })) as Record<string, unknown>;
    expect(created).toMatchObject({
      publish: [{ hostPort: 18789, guestPort: 18789 }],
      hooks: HOOKS,
    });
    await expectOk(api, 'POST', '/tenants/acme/pools/gw/scale', { running: 1 });
    const pool = (await documentOf(api, 'n1')).tenants[0]?.pools[0];
    expect(pool?.publish).toEqual([{ hostPort: 18789, guestPort: 18789 }]);
    expect(pool?.hooks).toEqual(HOOKS);

    // An update replaces the list and merges the hooks (null removes one).
    const updated = (await expectOk(api, 'PATCH', '/tenants/acme/pools/gw', {
      publish: [{ hostPort: 8443, guestPort: 18789 }],
      hooks: { afterWake: null, secretsReload: ['openclaw', 'secrets', 'reload'] },
    })) as Record<string, unknown>;
    expect(updated['publish']).toEqual([{ hostPort: 8443, guestPort: 18789 }]);
    expect(updated['hooks']).toEqual({
      beforeSleep: HOOKS.beforeSleep,
      secretsReload: ['openclaw', 'secrets', 'reload'],
    });
    const after = (await documentOf(api, 'n1')).tenants[0]?.pools[0];
    expect(after?.publish).toEqual([{ hostPort: 8443, guestPort: 18789 }]);
    // The old host port is free again.
    await tenant(api, 'other');
    await expectOk(api, 'POST', '/tenants/other/pools', {
      id: 'web',
      ...POOL,
      publish: [{ hostPort: 18789, guestPort: 80 }],
    });
  });

  it('refuses a host port another pool holds with a 409 naming it, changing nothing', async () => {
    const api = await apiOver(db.store());
    await tenant(api, 'acme');
    await tenant(api, 'beta');
    await expectOk(api, 'POST', '/tenants/acme/pools', {
      id: 'gw',
      ...POOL,
      publish: [{ hostPort: 18789, guestPort: 18789 }],
    });
    const clash = await api.call('POST', '/tenants/beta/pools', {
      body: { id: 'gw', ...POOL, publish: [{ hostPort: 18789, guestPort: 18789 }] },
    });
    expect(clash.status).toBe(409);
    expect(errorCode(clash)).toBe('conflict');
    expect(JSON.stringify(clash.body)).toContain("pool 'acme/gw'");
    expect((await api.call('GET', '/tenants/beta/pools/gw')).status).toBe(404);

    await expectOk(api, 'POST', '/tenants/beta/pools', {
      id: 'web',
      ...POOL,
      publish: [{ hostPort: 8080, guestPort: 80 }],
    });
    const before = await expectOk(api, 'GET', '/tenants/beta/pools/web');
    const moved = await api.call('PATCH', '/tenants/beta/pools/web', {
      body: { publish: [{ hostPort: 18789, guestPort: 80 }], critical: true },
    });
    expect(moved.status).toBe(409);
    expect(await expectOk(api, 'GET', '/tenants/beta/pools/web')).toEqual(before);
    // The same pool keeping its own port is no clash; a pool destroyed frees its ports.
    await expectOk(api, 'PATCH', '/tenants/acme/pools/gw', {
      publish: [{ hostPort: 18789, guestPort: 18790 }],
    });
    await expectOk(api, 'DELETE', '/tenants/acme/pools/gw');
    await expectOk(api, 'PATCH', '/tenants/beta/pools/web', {
      publish: [{ hostPort: 18789, guestPort: 80 }],
    });
  });

  it.each([
    [{ publish: [{ hostPort: 0, guestPort: 80 }] }],
    [{ publish: [{ hostPort: 80, guestPort: 70_000 }] }],
    [
      {
        publish: [
          { hostPort: 80, guestPort: 80 },
          { hostPort: 80, guestPort: 81 },
        ],
      },
    ],
    [{ hooks: { beforeSleep: [] } }],
    [{ hooks: { beforeSleep: ['sh', 'a\u0000b'] } }],
    [{ hooks: { onBoot: ['true'] } }],
  ])('refuses %j with a 400 and creates nothing', async (extra) => {
    const api = await apiOver(db.store());
    await tenant(api, 'acme');
    const bad = await api.call('POST', '/tenants/acme/pools', {
      body: { id: 'web', ...POOL, ...extra },
    });
    expect(bad.status).toBe(400);
    expect((await api.call('GET', '/tenants/acme/pools/web')).status).toBe(404);
  });

  it('gives one host port to exactly one of many pools racing for it', async () => {
    // On Postgres two coordinators' stores on one database, as two replicas would be; SQLite
    // has one coordinator per database (its lock file), so its writers share one store.
    const stores = db.name === 'postgres' ? [db.store(), await db.reopen()] : [db.store()];
    const apis = await Promise.all(stores.map((store) => apiOver(store)));
    const tenants = ['t0', 't1', 't2', 't3', 't4', 't5'];
    for (const id of tenants) await tenant(apis[0] as Api, id);
    const results = await Promise.all(
      tenants.map((id, i) =>
        (apis[i % apis.length] as Api).call('POST', `/tenants/${id}/pools`, {
          body: { id: 'gw', ...POOL, publish: [{ hostPort: 18789, guestPort: 18789 }] },
        }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409]);
    const owners = [];
    for (const id of tenants) {
      if ((await (apis[0] as Api).call('GET', `/tenants/${id}/pools/gw`)).status === 200)
        owners.push(id);
    }
    expect(owners).toHaveLength(1);
  });

  it('keeps the claims across a reopen of the store', async () => {
    const api = await apiOver(db.store());
    await tenant(api, 'acme');
    await expectOk(api, 'POST', '/tenants/acme/pools', {
      id: 'gw',
      ...POOL,
      publish: [{ hostPort: 9000, guestPort: 9000 }],
    });
    const again = await openStore(db.url());
    try {
      const other = await apiOver(again);
      await tenant(other, 'beta');
      const clash = await other.call('POST', '/tenants/beta/pools', {
        body: { id: 'gw', ...POOL, publish: [{ hostPort: 9000, guestPort: 1 }] },
      });
      expect(clash.status).toBe(409);
    } finally {
      await again.close();
    }
  });
});
