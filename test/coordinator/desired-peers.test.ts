/**
 * VXLAN peers in the per-node desired document: each tenant lists the underlay addresses of
 * the other nodes that run it, learned from the node list (registration and join). Checked
 * on SQLite and Postgres through the in-process coordinator, documents verified as an agent
 * verifies them.
 */
import { expect, it } from 'vitest';
import {
  nodeDesiredSchema,
  parseDocument,
  type NodeDesired,
  type SignedEnvelope,
} from '../../src/contract/desired.ts';
import { verifyEnvelope } from '../../src/agent/desired/verify-desired.ts';
import { tenantPeers } from '../../src/core/vxlan-peers.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { type Api, apiOver, errorCode, expectOk as ok } from './api-client-harness.ts';

const facts = (hostname: string, underlayIp?: string) => ({
  hostname,
  arch: 'x86_64',
  capacity: { vcpus: 32, memMib: 65536, diskGib: 100 },
  ...(underlayIp !== undefined ? { underlayIp } : {}),
});

async function tenantWithPool(api: Api, id: string, netId: number): Promise<void> {
  await ok(api, 'POST', '/tenants', { id, netId, subnet: `10.240.${netId}.0/24` });
  const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
  await ok(api, 'POST', `/tenants/${id}/pools`, pool);
}

async function documentOf(api: Api, node: string): Promise<NodeDesired> {
  const response = await api.call('GET', `/nodes/${node}/desired`);
  expect(response.status).toBe(200);
  const key = ((await api.call('GET', '/signing-key')).body as { publicKeyPem: string })
    .publicKeyPem;
  const verified = verifyEnvelope(response.body as SignedEnvelope, {
    trustedKeys: [key],
    lastGeneration: 0,
    production: true,
    nodeId: node,
  });
  return verified.document;
}

/** Tenant id → its peers in the node's document. */
async function peersOn(api: Api, node: string): Promise<Record<string, string[]>> {
  const doc = await documentOf(api, node);
  return Object.fromEntries(doc.tenants.map((t) => [t.id, t.vxlanPeers]));
}

async function nodeOfEach(api: Api, tenant: string): Promise<Record<string, string | null>> {
  const list = (await ok(api, 'GET', `/instances?tenant=${tenant}`)) as Array<{
    id: string;
    nodeId: string | null;
  }>;
  return Object.fromEntries(list.map((i) => [i.id, i.nodeId]));
}

it('peers: other nodes only, live instances only, no lost or unaddressed node, sorted', () => {
  const nodes = [
    { id: 'n1', status: 'ready' as const, underlayIp: '10.0.0.1' },
    { id: 'n2', status: 'cordoned' as const, underlayIp: '10.0.0.20' },
    { id: 'n3', status: 'ready' as const, underlayIp: '10.0.0.3' },
    { id: 'n4', status: 'lost' as const, underlayIp: '10.0.0.4' },
    { id: 'n5', status: 'ready' as const, underlayIp: null },
    // A misconfigured twin of n1: flooding to our own address would loop.
    { id: 'n6', status: 'ready' as const, underlayIp: '10.0.0.1' },
  ];
  const at = (tenantId: string, nodeId: string | null, desiredStatus = 'running' as const) => ({
    tenantId,
    nodeId,
    desiredStatus,
  });
  const instances = [
    at('a', 'n1'),
    at('a', 'n2'),
    at('a', 'n2'),
    at('a', 'n3'),
    at('a', 'n4'),
    at('a', 'n5'),
    at('a', 'n6'),
    at('a', null),
    { tenantId: 'b', nodeId: 'n3', desiredStatus: 'destroyed' as const },
    { tenantId: 'b', nodeId: 'n2', desiredStatus: 'sleeping' as const },
  ];
  const peers = tenantPeers('n1', nodes, instances);
  // Numeric order: 10.0.0.3 before 10.0.0.20.
  expect(Object.fromEntries(peers)).toEqual({ a: ['10.0.0.3', '10.0.0.20'], b: ['10.0.0.20'] });
});

it('reads a document saved before peers existed as having none', () => {
  const saved = {
    schema: 'mvm.node-desired/v1',
    nodeId: 'node-1',
    generation: 4,
    issuedAt: '2026-01-01T00:00:00.000Z',
    tenants: [
      { id: 'alpha', netId: 221, subnet: '10.240.221.0/24', gateway: '10.240.221.1', pools: [] },
    ],
  };
  const doc = parseDocument(nodeDesiredSchema, saved, 'saved document');
  expect(doc.tenants[0]?.vxlanPeers).toEqual([]);
});

await describeEachDatabase('VXLAN peers in desired documents', (db) => {
  it('lists the other nodes carrying each tenant, and moves the generation when they change', async () => {
    const api = await apiOver(db.store());
    await tenantWithPool(api, 'alpha', 221);
    await tenantWithPool(api, 'beta', 222);
    await ok(api, 'PUT', '/nodes/node-1', facts('kvm-1', '10.9.0.1'));
    // Beta lands on node-1, the only node yet.
    await ok(api, 'POST', '/tenants/beta/pools/web/scale', { running: 1 });
    await ok(api, 'PUT', '/nodes/node-2', facts('kvm-2', '10.9.0.2'));
    await ok(api, 'PUT', '/nodes/node-3', facts('kvm-3'));
    // Spread: one alpha instance on each of the three nodes.
    await ok(api, 'POST', '/tenants/alpha/pools/web/scale', { running: 3 });
    const placed = await nodeOfEach(api, 'alpha');
    expect(Object.values(placed).sort()).toEqual(['node-1', 'node-2', 'node-3']);

    // node-3 never said where it is reached: nobody floods to it.
    expect(await peersOn(api, 'node-1')).toEqual({ alpha: ['10.9.0.2'], beta: [] });
    expect(await peersOn(api, 'node-2')).toEqual({ alpha: ['10.9.0.1'] });
    expect(await peersOn(api, 'node-3')).toEqual({ alpha: ['10.9.0.1', '10.9.0.2'] });

    // node-3 tells its address: a peer appears, and so does a new generation.
    const before = (await documentOf(api, 'node-1')).generation;
    await ok(api, 'PUT', '/nodes/node-3', facts('kvm-3', '10.9.0.3'));
    const after = await documentOf(api, 'node-1');
    expect(after.generation).toBe(before + 1);
    expect(after.tenants.find((t) => t.id === 'alpha')?.vxlanPeers).toEqual([
      '10.9.0.2',
      '10.9.0.3',
    ]);

    // Registering again without an address keeps the one known: nothing moves.
    await ok(api, 'PUT', '/nodes/node-3', facts('kvm-3'));
    expect(((await ok(api, 'GET', '/nodes/node-3')) as { underlayIp: string }).underlayIp).toBe(
      '10.9.0.3',
    );
    expect((await documentOf(api, 'node-1')).generation).toBe(after.generation);

    // A lost node is no peer.
    const store = db.store();
    const node3 = await store.nodes.get('node-3');
    if (!node3) throw new Error('node-3 vanished');
    await store.nodes.upsert({ ...node3, status: 'lost' });
    // Behind the services' back: moved as the loss's own transaction moves it.
    await store.generations.markChanged(['fleet']);
    expect((await peersOn(api, 'node-1')).alpha).toEqual(['10.9.0.2']);
    expect((await documentOf(api, 'node-1')).generation).toBe(after.generation + 1);

    // Destroying alpha's instance on node-2 takes node-2 out of node-1's flood list.
    const onNode2 = Object.entries(placed).find(([, node]) => node === 'node-2')?.[0];
    await ok(api, 'POST', `/tenants/alpha/pools/web/instances/${onNode2 ?? '?'}/actions`, {
      action: 'destroy',
    });
    expect(await peersOn(api, 'node-1')).toEqual({ alpha: [], beta: [] });
  });

  it("follows a node's heartbeat when its underlay address changes", async () => {
    const api = await apiOver(db.store());
    await tenantWithPool(api, 'alpha', 223);
    await ok(api, 'PUT', '/nodes/node-1', facts('kvm-1', '10.9.0.1'));
    await ok(api, 'PUT', '/nodes/node-2', facts('kvm-2', '10.9.0.2'));
    await ok(api, 'POST', '/tenants/alpha/pools/web/scale', { running: 2 });
    expect(await peersOn(api, 'node-1')).toEqual({ alpha: ['10.9.0.2'] });
    const before = (await documentOf(api, 'node-1')).generation;
    const beat = (underlayIp?: string) => ({
      capacity: { vcpus: 64, memMib: 262144, diskGib: 1000 },
      usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1000 },
      instances: [],
      ...(underlayIp ? { underlayIp } : {}),
    });
    await ok(api, 'POST', '/nodes/node-2/heartbeat', beat('10.9.0.22'));
    expect(await peersOn(api, 'node-1')).toEqual({ alpha: ['10.9.0.22'] });
    expect((await documentOf(api, 'node-1')).generation).toBe(before + 1);
    // A heartbeat that says nothing about the underlay leaves it as it is.
    await ok(api, 'POST', '/nodes/node-2/heartbeat', beat());
    expect(await peersOn(api, 'node-1')).toEqual({ alpha: ['10.9.0.22'] });
  });

  it('stores the underlay address given at registration and refuses a malformed one', async () => {
    const api = await apiOver(db.store());
    const node = (await ok(api, 'PUT', '/nodes/node-1', facts('kvm-1', '192.168.50.7'))) as {
      underlayIp: string | null;
    };
    expect(node.underlayIp).toBe('192.168.50.7');
    for (const bad of ['192.168.50.300', '10.0.0', 'kvm-1.local', '127.0.0.1', '224.0.0.1']) {
      const refused = await api.call('PUT', '/nodes/node-1', { body: facts('kvm-1', bad) });
      expect(refused.status, bad).toBe(400);
      expect(errorCode(refused)).toBe('invalid_argument');
    }
    const listed = (await ok(api, 'GET', '/nodes')) as Array<{ underlayIp: string | null }>;
    expect(listed.map((n) => n.underlayIp)).toEqual(['192.168.50.7']);
    await ok(api, 'PUT', '/nodes/node-2', facts('kvm-2'));
    expect(((await ok(api, 'GET', '/nodes/node-2')) as { underlayIp: null }).underlayIp).toBe(null);
  });
});
