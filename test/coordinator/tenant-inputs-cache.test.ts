/**
 * A node's document keeps its tenants' inputs (records, pools, secrets, configs, nodes) per
 * replica and re-reads only those whose document marks moved or a local change named
 * (desired/tenant-inputs.ts). Both stores: after every kind of change, made through this
 * replica or through another one over the same store, a replica with every input cached
 * computes exactly the document a fresh replica computes; and a toggle reads no tenant's
 * inputs, a change of one tenant reads that tenant's only.
 */
import { expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { TenantInputsCache, tenantsOf } from '../../src/coordinator/desired/tenant-inputs.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { spyingRepos } from '../support/store-proxy.ts';
import {
  documentOn,
  instancesOf,
  node,
  replicaOver,
  tenant,
  webPool,
  type Call,
  type ListedInstance as Instance,
} from './replica-harness.ts';

/** A coordinator over `store` with its own notifier and caches: one replica. */
const replica = async (store: Store, notifier = new ChangeNotifier()): Promise<Call> =>
  (await replicaOver(store, { notifier })).call;

/** The store, recording each tenant-input read with the tenants it asked for. */
function recordingInputs(store: Store) {
  const reads: Array<{ read: string; tenants: string[] }> = [];
  const kinds: Record<string, (arg: never) => string[]> = {
    'tenants.list': (f: { ids?: string[] }) => f.ids ?? ['*'],
    'pools.list': (f: { tenantIds?: string[] }) => f.tenantIds ?? ['*'],
    'secrets.ofTenants': (ids: string[]) => ids,
    'poolConfigs.ofTenants': (ids: string[]) => ids,
    'nodes.tenantNodes': (ids: string[]) => ids,
  };
  const before = (read: string, args: unknown[]) => {
    const tenantsOf = kinds[read];
    if (tenantsOf) reads.push({ read, tenants: [...tenantsOf((args[0] ?? {}) as never)].sort() });
  };
  const wrapped = spyingRepos(store, { before }, [
    'tenants',
    'pools',
    'secrets',
    'poolConfigs',
    'nodes',
  ]);
  return { store: wrapped, reads };
}

await describeEachDatabase('document inputs cached per replica', (db) => {
  it('gives, after every kind of change through either replica, the document a fresh replica computes', async () => {
    const store = db.store();
    const local = await replica(store);
    const other = await replica(store);
    await node(local, 'node-1', '192.0.2.1');
    await node(local, 'node-2', '192.0.2.2');
    await node(local, 'node-3', '192.0.2.3');
    for (const n of [0, 1]) await tenant(local, n, 1);

    const nodes = ['node-1', 'node-2', 'node-3'];
    let checks = 0;
    /** The local replica's documents (inputs cached before the change) equal a fresh one's. */
    const agree = async (what: string) => {
      const fresh = await replica(store);
      for (const id of nodes) {
        const cached = await documentOn(local, id);
        expect(cached, `${what}: ${id}`).toEqual(await documentOn(fresh, id));
      }
      checks += 1;
    };
    const warm = async () => {
      for (const id of nodes) await documentOn(local, id);
    };

    for (const [via, call] of [
      ['local', local],
      ['other', other],
    ] as const) {
      await warm();
      const egress = via === 'local';
      await call('PATCH', '/tenants/t0', { egress });
      await agree(`${via}: tenant record`);

      await warm();
      await call('PATCH', '/tenants/t0/pools/web', { pinned: via === 'local' });
      await agree(`${via}: pool spec`);

      await warm();
      await call('POST', '/tenants/t0/secrets', { values: { API_KEY: `key-${via}` } });
      await agree(`${via}: secret`);

      await warm();
      await call('PUT', '/tenants/t0/pools/web/config', { files: { MODE: via } });
      await agree(`${via}: config`);

      // t1 spreads to every node (its peers grow), then leaves the last node it gained.
      await warm();
      await call('POST', '/tenants/t1/pools/web/scale', { running: 3 });
      expect(new Set((await instancesOf(call, 't1')).map((i) => i.nodeId)).size).toBe(3);
      await agree(`${via}: spread to a new node`);

      await warm();
      const [gone] = (await instancesOf(call, 't1')).filter((i) => i.nodeId === 'node-3');
      await call('POST', `/tenants/t1/pools/web/instances/${gone?.id ?? '?'}/actions`, {
        action: 'destroy',
      });
      await agree(`${via}: left its last instance on a node`);
      await call('POST', '/tenants/t1/pools/web/scale', { running: 1, warm: 0 });

      await warm();
      await node(call, 'node-2', via === 'local' ? '192.0.2.12' : '192.0.2.22');
      await agree(`${via}: a node's address`);

      // A pool created after the tenant's inputs were kept moves no mark (it holds nothing);
      // its first instance placed where the tenant already is shows it.
      await warm();
      await call('POST', '/tenants/t0/pools', { ...webPool, id: `api-${via}` });
      await call('POST', `/tenants/t0/pools/api-${via}/scale`, { running: 3 });
      await agree(`${via}: a new pool's instances`);
    }
    expect(checks).toBe(16);
  });

  it('reads no tenant inputs for a toggle, and only the changed tenant’s for its change', async () => {
    const recording = recordingInputs(db.store());
    const call = await replica(recording.store);
    await node(call, 'node-1', '192.0.2.1');
    await node(call, 'node-2', '192.0.2.2');
    const tenants = 8;
    for (let n = 0; n < tenants; n += 1) await tenant(call, n, 2);
    await documentOn(call, 'node-1');

    // A running ⇄ warm toggle of one of t3's instances on node-1: no tenant's inputs moved.
    const [toggled] = (await instancesOf(call, 't3')).filter((i) => i.nodeId === 'node-1');
    if (!toggled) throw new Error('t3 holds nothing on node-1');
    await call('POST', `/tenants/t3/pools/web/instances/${toggled.id}/actions`, { action: 'warm' });
    recording.reads.length = 0;
    const doc = (await documentOn(call, 'node-1')) as {
      tenants: Array<{ id: string; pools: Array<{ instances: Instance[] }> }>;
    };
    const t3 = doc.tenants.find((t) => t.id === 't3')?.pools[0]?.instances;
    expect(t3?.map((i) => [i.id, i.desiredStatus])).toEqual([[toggled.id, 'warm']]);
    expect(doc.tenants).toHaveLength(tenants);
    expect(recording.reads).toEqual([]);

    // A config of t5: its inputs only, one read per kind.
    await call('PUT', '/tenants/t5/pools/web/config', { files: { MODE: 'edge' } });
    recording.reads.length = 0;
    const after = (await documentOn(call, 'node-1')) as {
      tenants: Array<{ id: string; pools: Array<{ config: unknown }> }>;
    };
    expect(after.tenants.find((t) => t.id === 't5')?.pools[0]?.config).toEqual({
      version: 1,
      files: { MODE: 'edge' },
    });
    expect(recording.reads.map((r) => r.read).sort()).toEqual([
      'nodes.tenantNodes',
      'poolConfigs.ofTenants',
      'pools.list',
      'secrets.ofTenants',
      'tenants.list',
    ]);
    expect(recording.reads.every((r) => r.tenants.join() === 't5')).toBe(true);
  });

  it('also takes a local announcement of a tenant or the fleet as a change (marks aside)', async () => {
    const store = db.store();
    const notifier = new ChangeNotifier();
    const call = await replica(store, notifier);
    await node(call, 'node-1', '192.0.2.1');
    await node(call, 'node-2', '192.0.2.2');
    await tenant(call, 0, 2);
    type Doc = { tenants: Array<{ egress: boolean; vxlanPeers: string[] }> };
    const doc = async () => (await documentOn(call, 'node-1')) as Doc;
    expect((await doc()).tenants[0]).toMatchObject({ egress: false, vxlanPeers: ['192.0.2.2'] });

    // Written behind the services' back, no mark moved: only the announcement tells.
    const t0 = await store.tenants.get('t0');
    await store.tenants.update('t0', { egress: true }, t0?.version ?? 0, '2026-11-22T00:00:01Z');
    notifier.notify({ tenants: ['t0'] });
    expect((await doc()).tenants[0]?.egress).toBe(true);

    const node2 = await store.nodes.get('node-2');
    if (!node2) throw new Error('node-2 vanished');
    await store.nodes.upsert({ ...node2, underlayIp: '192.0.2.42' });
    notifier.notify({ fleet: true });
    expect((await doc()).tenants[0]?.vxlanPeers).toEqual(['192.0.2.42']);
  });

  it('keeps at most maxTenants, least recently used first out, and still lists every tenant', async () => {
    const store = db.store();
    const call = await replica(store);
    await node(call, 'node-1', '192.0.2.1');
    for (const n of [0, 1, 2]) await tenant(call, n, 1);
    const notifier = new ChangeNotifier();
    const cache = new TenantInputsCache(store, notifier, {
      maxTenants: 2,
      maxAgeMs: 60_000,
      nowMs: () => 0,
    });
    const instances = await store.instances.list({ nodeId: 'node-1' });
    expect(new Set(instances.map((i) => i.tenantId)).size).toBe(3);
    const inputs = await cache.read('node-1', tenantsOf(instances), notifier.current);
    expect(inputs.tenants.map((t) => t.id)).toEqual(['t0', 't1', 't2']);
    expect(inputs.pools.map((p) => `${p.tenantId}/${p.id}`)).toEqual([
      't0/web',
      't1/web',
      't2/web',
    ]);
    expect(cache.size).toBe(2);
  });

  it('reuses a node’s assembled inputs and peers only while its tenants’ inputs and the peer rows stand', async () => {
    const store = db.store();
    const call = await replica(store);
    await node(call, 'node-1', '192.0.2.1');
    await node(call, 'node-2', '192.0.2.2');
    for (const n of [0, 1]) await tenant(call, n, 2);
    const notifier = new ChangeNotifier();
    let now = 0;
    const cache = new TenantInputsCache(store, notifier, { maxAgeMs: 60_000, nowMs: () => now });
    const read = async (nodeId: string) => {
      const instances = await store.instances.list({ nodeId });
      const here = tenantsOf(instances);
      const marks = await cache.marksOf(here.keys());
      return cache.read(nodeId, here, notifier.current, marks);
    };
    const first = await read('node-1');
    expect(first.peers.get('t0')).toEqual(['192.0.2.2']);
    await read('node-2');
    // A toggle moves no tenant's inputs and no node: the same assembly, not built again.
    const [toggled] = (await instancesOf(call, 't1')).filter((i) => i.nodeId === 'node-1');
    await call('POST', `/tenants/t1/pools/web/instances/${toggled?.id ?? '?'}/actions`, {
      action: 'warm',
    });
    expect(await read('node-1')).toBe(first);

    await call('PUT', '/tenants/t1/pools/web/config', { files: { MODE: 'edge' } });
    const configured = await read('node-1');
    expect(configured).not.toBe(first);
    expect(configured.workloads.get('t1/web')?.config).toEqual({
      version: 1,
      files: { MODE: 'edge' },
    });
    expect(configured.tenants[0]).toBe(first.tenants[0]);

    await node(call, 'node-2', '192.0.2.12');
    const moved = await read('node-1');
    expect(moved).not.toBe(configured);
    expect(moved.peers.get('t0')).toEqual(['192.0.2.12']);
    expect(await read('node-1')).toBe(moved);

    // Peer rows past the refresh bound are read again, though every tenant's inputs are
    // younger (a node written behind the services' back: no mark, no announcement).
    const node2 = await store.nodes.get('node-2');
    if (!node2) throw new Error('node-2 vanished');
    await store.nodes.upsert({ ...node2, underlayIp: '192.0.2.42' });
    now = 30_000;
    for (const t of ['t0', 't1']) {
      await call('PUT', `/tenants/${t}/pools/web/config`, { files: { MODE: 'late' } });
    }
    expect((await read('node-1')).peers.get('t0')).toEqual(['192.0.2.12']);
    now = 61_000;
    expect((await read('node-1')).peers.get('t0')).toEqual(['192.0.2.42']);
  });

  it('a drain putting a tenant’s last instance on the node back to placement moves its peers', async () => {
    const store = db.store();
    const writer = await replica(store);
    const watcher = await replica(store);
    await node(writer, 'node-1', '192.0.2.1');
    await node(writer, 'node-2', '192.0.2.2');
    await tenant(writer, 0, 2);
    // One instance on each node, never booted (no report): a drain puts it back to placement.
    const placed = await instancesOf(writer, 't0');
    expect(placed.map((i) => i.nodeId).sort()).toEqual(['node-1', 'node-2']);
    type Doc = { tenants: Array<{ vxlanPeers: string[] }> };
    const peers = async (call: Call) =>
      ((await documentOn(call, 'node-1')) as Doc).tenants[0]?.vxlanPeers;
    expect(await peers(watcher)).toEqual(['192.0.2.2']);

    const marks = await store.generations.marksOf(['tenant:t0']);
    await writer('POST', '/nodes/node-2/drain');
    // Placed again where t0 already is (node-2 is cordoned): no spread moves its mark, the
    // drain's own transaction does.
    expect((await instancesOf(writer, 't0')).map((i) => i.nodeId)).toEqual(['node-1', 'node-1']);
    expect((await store.generations.marksOf(['tenant:t0'])).get('tenant:t0')).toBeGreaterThan(
      marks.get('tenant:t0') ?? 0,
    );
    expect(await peers(watcher)).toEqual([]);
    expect(await documentOn(watcher, 'node-1')).toEqual(
      await documentOn(await replica(store), 'node-1'),
    );
  });
});
