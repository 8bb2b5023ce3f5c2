/**
 * A node's document reads its tenants' records, pools, secrets, configs and peers in a fixed
 * number of store calls, whatever the number of tenants on the node (at 100 nodes × 500
 * tenants the per-tenant reads were ~2,000 statements a document and stalled the coordinator
 * on Postgres). Checked on SQLite and Postgres through the in-process coordinator, with the
 * document's content, and the batched reads themselves.
 */
import { expect, it } from 'vitest';
import type { NodeDesired, SignedEnvelope } from '../../src/contract/desired.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { spyingRepos } from '../support/store-proxy.ts';
import { type Api, apiOver, expectOk as ok } from './api-client-harness.ts';

/** The store, recording `repo.method` for every repository call made through it. */
function recordingCalls(store: Store) {
  const calls: string[] = [];
  const wrapped = spyingRepos(store, { before: (call) => calls.push(call) });
  return { store: wrapped, calls };
}

async function node(api: Api, id: string, underlayIp: string): Promise<void> {
  const capacity = { vcpus: 64, memMib: 262144, diskGib: 100 };
  await ok(api, 'PUT', `/nodes/${id}`, { hostname: id, arch: 'x86_64', capacity, underlayIp });
}

/** Tenants t{from}..t{to-1}, each with pool `web` of two running instances (one per node). */
async function tenants(api: Api, from: number, to: number): Promise<void> {
  for (let t = from; t < to; t += 1) {
    await ok(api, 'POST', '/tenants', {
      id: `t${t}`,
      netId: 10 + t,
      subnet: `10.240.${10 + t}.0/24`,
    });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await ok(api, 'POST', `/tenants/t${t}/pools`, pool);
    await ok(api, 'POST', `/tenants/t${t}/pools/web/scale`, { running: 2 });
  }
}

function documentOf(envelope: unknown): NodeDesired {
  return JSON.parse((envelope as SignedEnvelope).payload) as NodeDesired;
}

await describeEachDatabase('desired document batched reads', (db) => {
  it('computes a document in as many store calls for 6 tenants as for 2', async () => {
    const recording = recordingCalls(db.store());
    const api = await apiOver(recording.store);
    await node(api, 'node-1', '192.0.2.1');
    await node(api, 'node-2', '192.0.2.2');
    await tenants(api, 0, 2);
    await ok(api, 'PUT', '/tenants/t1/pools/web/config', { files: { MODE: 'edge' } });

    const reads = async () => {
      recording.calls.length = 0;
      const doc = documentOf(await ok(api, 'GET', '/nodes/node-1/desired'));
      // The marks are one shared read per half poll for all watchers (shared-marks.ts),
      // whether this request makes it depends on the time since the last.
      // Peer node rows are kept under the fleet's mark (desired/tenant-inputs.ts): read
      // again only for nodes not kept yet.
      // The node's rows: read in full the first time, patched after (desired/node-rows.ts).
      const rows = [
        'instances.changeCursor',
        'instances.documentRows',
        'instances.documentChanges',
      ];
      // The generation: read, then upserted if the content changed; the upsert alone when the
      // content differs from what this replica last saw stored (services/desired-service.ts).
      const generation = ['generations.get', 'generations.bump'];
      const calls = recording.calls
        .filter((c) => c !== 'generations.allMarks' && c !== 'nodes.list')
        .map((c) => (rows.includes(c) ? 'instances (rows)' : c))
        .map((c) => (generation.includes(c) ? 'generation' : c))
        .filter(
          (c, i, all) => (c !== 'instances (rows)' && c !== 'generation') || all.indexOf(c) === i,
        );
      return { doc, calls: calls.sort() };
    };
    const small = await reads();
    expect(small.doc.tenants.map((t) => t.id)).toEqual(['t0', 't1']);

    await tenants(api, 2, 6);
    const large = await reads();
    expect(large.calls).toEqual(small.calls);
    // No read names a single tenant: the per-tenant loop is gone.
    expect(large.calls.filter((c) => c === 'tenants.get' || c === 'secrets.list')).toEqual([]);

    // And the content is each tenant's: its one instance here, peers on node-2, t1's config.
    const doc = large.doc;
    expect(doc.tenants.map((t) => t.id)).toEqual(['t0', 't1', 't2', 't3', 't4', 't5']);
    for (const tenant of doc.tenants) {
      expect(tenant.netId).toBe(10 + Number(tenant.id.slice(1)));
      expect(tenant.vxlanPeers).toEqual(['192.0.2.2']);
      expect(tenant.pools.map((p) => [p.id, p.instances.length])).toEqual([['web', 1]]);
      expect(tenant.pools[0]?.config).toEqual(
        tenant.id === 't1' ? { version: 1, files: { MODE: 'edge' } } : null,
      );
    }
  });

  it('reads several tenants at once: records, pools, secrets, configs and their nodes', async () => {
    const store = db.store();
    const api = await apiOver(store);
    await node(api, 'node-1', '192.0.2.1');
    await node(api, 'node-2', '192.0.2.2');
    // t0 has a pool but no instance: it holds no node.
    await ok(api, 'POST', '/tenants', { id: 't0', netId: 10, subnet: '10.240.10.0/24' });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await ok(api, 'POST', `/tenants/t0/pools`, pool);
    await tenants(api, 1, 3);
    await ok(api, 'PUT', '/tenants/t2/pools/web/config', { files: { A: '1' } });

    expect((await store.tenants.list({ ids: ['t2', 'tx', 't0'] })).map((t) => t.id)).toEqual([
      't0',
      't2',
    ]);
    expect(await store.tenants.list({ ids: [] })).toEqual([]);
    expect(
      (await store.pools.list({ tenantIds: ['t2', 't1'] })).map((p) => `${p.tenantId}/${p.id}`),
    ).toEqual(['t1/web', 't2/web']);
    expect(await store.pools.list({ tenantIds: [] })).toEqual([]);
    expect(
      (await store.poolConfigs.ofTenants(['t1', 't2'])).map((c) => [c.tenantId, c.files]),
    ).toEqual([['t2', { A: '1' }]]);
    const at = '2026-11-22T00:00:00.000Z';
    const sealed = { version: 1, keyId: 'k', nonce: 'bm9uY2U=', ciphertext: 'Y3Q=' };
    for (const [tenantId, poolId, name] of [
      ['t2', 'web', 'B'],
      ['t2', null, 'A'],
      ['t0', null, 'C'],
      ['t1', null, 'D'],
    ] as const) {
      await store.secrets.put({ tenantId, poolId, name, ...sealed, createdAt: at, updatedAt: at });
    }
    // By tenant, then as list() orders one tenant's: tenant-wide first.
    expect(
      (await store.secrets.ofTenants(['t2', 't0'])).map((s) => [s.tenantId, s.poolId, s.name]),
    ).toEqual([
      ['t0', null, 'C'],
      ['t2', null, 'A'],
      ['t2', 'web', 'B'],
    ]);
    expect((await store.secrets.ofTenants(['t2'])).map((s) => s.name)).toEqual(
      (await store.secrets.list('t2')).map((s) => s.name),
    );
    expect(await store.secrets.ofTenants([])).toEqual([]);

    expect(await store.nodes.tenantNodes(['t0', 't1', 't2', 'tx'])).toEqual([
      { tenantId: 't1', nodeIds: ['node-1', 'node-2'] },
      { tenantId: 't2', nodeIds: ['node-1', 'node-2'] },
    ]);
    expect(await store.nodes.tenantNodes([])).toEqual([]);
    // The same pairs allocations() lists row by row.
    const pairs = (await store.nodes.allocations({ tenantIds: ['t1', 't2'] })).map(
      (a) => `${a.tenantId}@${a.nodeId}`,
    );
    expect(pairs.sort()).toEqual(['t1@node-1', 't1@node-2', 't2@node-1', 't2@node-2']);
  });
});
