/**
 * A node's document reads only the nodes that can change it (itself and the nodes holding its
 * tenants' live instances), not the whole fleet's node list: checked on SQLite and Postgres
 * through the in-process coordinator, with the peers it computes.
 */
import { expect, it } from 'vitest';
import type { NodeDesired, SignedEnvelope } from '../../src/contract/desired.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { type Api, apiOver, expectOk as ok } from './api-client-harness.ts';
import { overriding, spying } from '../support/store-proxy.ts';

/** The store, recording the filter of every node listing made through it. */
function recordingNodeLists(store: Store) {
  const lists: Array<{ ids?: readonly string[] } | undefined> = [];
  const before = (_: string, [filter]: unknown[]) =>
    lists.push(filter as { ids?: readonly string[] } | undefined);
  const nodes = spying(store.nodes, { before }, ['list']);
  return { store: overriding(store, { nodes }), lists };
}

async function node(api: Api, id: string, underlayIp: string): Promise<void> {
  const capacity = { vcpus: 32, memMib: 65536, diskGib: 100 };
  await ok(api, 'PUT', `/nodes/${id}`, { hostname: id, arch: 'x86_64', capacity, underlayIp });
}

function documentOf(envelope: unknown): NodeDesired {
  return JSON.parse((envelope as SignedEnvelope).payload) as NodeDesired;
}

await describeEachDatabase('desired document node reads', (db) => {
  it('lists only given nodes, in id order, skipping unknown ones', async () => {
    const store = db.store();
    const api = await apiOver(store);
    for (const [id, ip] of [
      ['node-c', '192.0.2.3'],
      ['node-a', '192.0.2.1'],
      ['node-b', '192.0.2.2'],
    ] as const) {
      await node(api, id, ip);
    }
    const ids = async (filter?: { ids?: readonly string[] }) =>
      (await store.nodes.list(filter)).map((n) => n.id);
    expect(await ids()).toEqual(['node-a', 'node-b', 'node-c']);
    expect(await ids({ ids: ['node-c', 'node-a', 'node-x'] })).toEqual(['node-a', 'node-c']);
    expect(await ids({ ids: [] })).toEqual([]);
  });

  it("computes a node's peers from its tenants' nodes, without listing the fleet", async () => {
    const recording = recordingNodeLists(db.store());
    const api = await apiOver(recording.store);
    await node(api, 'node-1', '192.0.2.1');
    await node(api, 'node-2', '192.0.2.2');
    await ok(api, 'POST', '/tenants', { id: 'acme', netId: 7, subnet: '10.240.7.0/24' });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
    await ok(api, 'POST', '/tenants/acme/pools', pool);
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 2 });
    // Two more nodes that hold nothing of acme's.
    await node(api, 'node-3', '192.0.2.3');
    await node(api, 'node-4', '192.0.2.4');
    recording.lists.length = 0;

    const doc = documentOf(await ok(api, 'GET', '/nodes/node-1/desired'));
    expect(doc.tenants.map((t) => [t.id, t.vxlanPeers])).toEqual([['acme', ['192.0.2.2']]]);
    expect(recording.lists.length).toBeGreaterThan(0);
    for (const filter of recording.lists) {
      expect(filter?.ids === undefined ? 'the whole fleet' : [...filter.ids].sort()).toEqual([
        'node-1',
        'node-2',
      ]);
    }
  });

  it("reads only its node's instances, never its tenants' instances fleet-wide", async () => {
    const listings: unknown[] = [];
    const base = db.store();
    // documentRows(nodeId) is the document's own listing, by node.
    const before = (method: string, [filter]: unknown[]) =>
      listings.push(method === 'list' ? filter : { nodeId: filter });
    const instances = spying(base.instances, { before }, ['list', 'documentRows']);
    const store = overriding(base, { instances });
    const api = await apiOver(store);
    await node(api, 'node-1', '192.0.2.1');
    await node(api, 'node-2', '192.0.2.2');
    await ok(api, 'POST', '/tenants', { id: 'acme', netId: 7, subnet: '10.240.7.0/24' });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
    await ok(api, 'POST', '/tenants/acme/pools', pool);
    // Spread over both nodes: each node's peer is the other.
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 4 });
    listings.length = 0;

    for (const [id, peer] of [
      ['node-1', '192.0.2.2'],
      ['node-2', '192.0.2.1'],
    ] as const) {
      const doc = documentOf(await ok(api, 'GET', `/nodes/${id}/desired`));
      expect(doc.tenants.map((t) => [t.id, t.vxlanPeers])).toEqual([['acme', [peer]]]);
    }
    expect(listings).toEqual([{ nodeId: 'node-1' }, { nodeId: 'node-2' }]);
  });
});
