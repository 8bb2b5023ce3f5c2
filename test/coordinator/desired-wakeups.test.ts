import { describe, expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { countingComputations } from '../support/counting-computations.ts';
import { type InstanceJson, twoTenantsOnTwoNodes } from './support/two-tenants.ts';
import { ADMIN, type Api, apiOver, ok } from './api-client-harness.ts';

const pathOf = (i: InstanceJson) => `/tenants/${i.tenantId}/pools/${i.poolId}/instances/${i.id}`;
const report = (api: Api, i: InstanceJson, status: string) =>
  ok(api, 'PUT', `/nodes/${i.nodeId}/instances/${i.tenantId}/${i.poolId}/${i.id}/status`, {
    status,
  });
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

await describeEachDatabase('desired watcher wake-ups', (db) => {
  it("wakes a node's watcher for changes to its document only, not for status reports", async () => {
    const notifier = new ChangeNotifier();
    const counting = countingComputations(db.store());
    // No store polling during the test: every recomputation is a wake-up.
    const api = await apiOver(counting.store, { notifier, desiredPollMs: 60_000 });
    const { a, b } = await twoTenantsOnTwoNodes(api);
    const node = a.nodeId;
    const first = (await ok(api, 'GET', `/nodes/${node}/desired`)) as { payload: string };
    const generation = (JSON.parse(first.payload) as { generation: number }).generation;
    const watch = api.call('GET', `/nodes/${node}/desired?after=${generation}&waitMs=10000`);
    // Waiting: its first look finds the marks of the document it holds unmoved, computing nothing.
    await settle();
    const waiting = { computed: counting.computed(node), notified: notifier.current };

    await report(api, a, 'created'); // what it already is: a no-op
    await report(api, a, 'running'); // a real observed change, in no document
    await report(api, b, 'running');
    await settle();
    expect(notifier.current).toBe(waiting.notified);
    expect(counting.computed(node)).toBe(waiting.computed);

    // Another tenant's change on another node wakes that node's watchers, not this one.
    await ok(api, 'POST', `${pathOf(b)}/actions`, { action: 'stop' });
    await settle();
    expect(notifier.current).toBeGreaterThan(waiting.notified);
    expect(counting.computed(node)).toBe(waiting.computed);

    // A change to this node's document answers the watcher at once.
    const started = performance.now();
    await ok(api, 'POST', `${pathOf(a)}/actions`, { action: 'stop' });
    const answer = await watch;
    expect(performance.now() - started).toBeLessThan(1_000);
    const doc = JSON.parse((answer.body as { payload: string }).payload) as {
      generation: number;
      tenants: Array<{ pools: Array<{ instances: Array<{ desiredStatus: string }> }> }>;
    };
    expect(doc.generation).toBe(generation + 1);
    expect(doc.tenants[0]?.pools[0]?.instances[0]?.desiredStatus).toBe('stopped');
    expect(counting.computed(node)).toBe(waiting.computed + 1);
  });

  it('wakes the watcher when a status report takes an instance out of its document', async () => {
    const notifier = new ChangeNotifier();
    const api = await apiOver(db.store(), { notifier, desiredPollMs: 60_000 });
    const { a } = await twoTenantsOnTwoNodes(api);
    await ok(api, 'POST', `${pathOf(a)}/actions`, { action: 'destroy' });
    const current = (await ok(api, 'GET', `/nodes/${a.nodeId}/desired`)) as { payload: string };
    const generation = (JSON.parse(current.payload) as { generation: number }).generation;
    const watch = api.call('GET', `/nodes/${a.nodeId}/desired?after=${generation}&waitMs=10000`);
    await settle();
    const started = performance.now();
    await report(api, a, 'destroyed');
    const answer = await watch;
    expect(performance.now() - started).toBeLessThan(1_000);
    const doc = JSON.parse((answer.body as { payload: string }).payload) as {
      generation: number;
      tenants: unknown[];
    };
    expect(doc).toMatchObject({ generation: generation + 1, tenants: [] });
  });
});

await describeEachDatabase('desired watchers at scale', (db) => {
  it("polls the store's marks, not the document, and another replica's change still arrives", async () => {
    const counting = countingComputations(db.store());
    // Two replicas over one store, each with its own notifier; this one polls every 20 ms.
    const here = await apiOver(counting.store, {
      notifier: new ChangeNotifier(),
      desiredPollMs: 20,
    });
    const there = await apiOver(db.store(), { notifier: new ChangeNotifier() });
    const { a, b } = await twoTenantsOnTwoNodes(there);
    const node = a.nodeId;
    const first = (await ok(here, 'GET', `/nodes/${node}/desired`)) as { payload: string };
    const generation = (JSON.parse(first.payload) as { generation: number }).generation;
    const watch = here.call('GET', `/nodes/${node}/desired?after=${generation}&waitMs=20000`);
    await settle();
    const waiting = counting.computed(node);
    // Some 40 polls of the store: at most one recomputation (if the marks it recorded were
    // read before the setup's last commit).
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(counting.computed(node) - waiting).toBeLessThanOrEqual(1);
    const polled = counting.computed(node);
    // Another tenant's change on another node, through the other replica: still no work here.
    await ok(there, 'POST', `${pathOf(b)}/actions`, { action: 'stop' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(counting.computed(node)).toBe(polled);
    // This node's change through the other replica arrives by the marks, long before the
    // safety-net refresh (minutes) that would otherwise be the only way.
    const started = performance.now();
    await ok(there, 'POST', `${pathOf(a)}/actions`, { action: 'stop' });
    const answer = await watch;
    expect(performance.now() - started).toBeLessThan(2_000);
    const doc = JSON.parse((answer.body as { payload: string }).payload) as { generation: number };
    expect(doc.generation).toBe(generation + 1);
  });

  it('wakes for a scale between live statuses only the node holding the changed instance', async () => {
    const counting = countingComputations(db.store());
    const api = await apiOver(counting.store, {
      notifier: new ChangeNotifier(),
      desiredPollMs: 60_000,
    });
    const capacity = { vcpus: 1, memMib: 1024, diskGib: 10 };
    for (const node of ['node-1', 'node-2']) {
      await ok(api, 'PUT', `/nodes/${node}`, { hostname: node, arch: 'x86_64', capacity });
    }
    await ok(api, 'POST', '/tenants', { id: 'acme' });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await ok(api, 'POST', '/tenants/acme/pools', pool);
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 2 });
    const watches = [];
    const before = new Map<string, number>();
    for (const node of ['node-1', 'node-2']) {
      const current = (await ok(api, 'GET', `/nodes/${node}/desired`)) as { payload: string };
      const generation = (JSON.parse(current.payload) as { generation: number }).generation;
      watches.push(api.call('GET', `/nodes/${node}/desired?after=${generation}&waitMs=1500`));
    }
    await settle();
    for (const node of ['node-1', 'node-2']) before.set(node, counting.computed(node));
    const answer = (await ok(api, 'POST', '/tenants/acme/pools/web/scale', {
      running: 1,
      warm: 1,
    })) as { changed: Array<{ nodeId: string }> };
    const moved = answer.changed[0]?.nodeId;
    const other = moved === 'node-1' ? 'node-2' : 'node-1';
    await settle();
    expect(counting.computed(moved ?? '')).toBe((before.get(moved ?? '') ?? 0) + 1);
    expect(counting.computed(other)).toBe(before.get(other));
    await Promise.all(watches);
  });

  it('does not compute a document again only because it gained a tenant', async () => {
    const counting = countingComputations(db.store());
    // Marks read once for the whole test (a snapshot is kept half a poll): a watcher learns
    // of the change from the notifier, and its next look compares the same snapshot.
    const api = await apiOver(counting.store, {
      notifier: new ChangeNotifier(),
      desiredPollMs: 60_000,
    });
    const capacity = { vcpus: 4, memMib: 4096, diskGib: 10 };
    await ok(api, 'PUT', '/nodes/node-1', { hostname: 'node-1', arch: 'x86_64', capacity });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    for (const tenant of ['acme', 'beta']) {
      await ok(api, 'POST', '/tenants', { id: tenant });
      await ok(api, 'POST', `/tenants/${tenant}/pools`, pool);
    }
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 1 });
    const first = (await ok(api, 'GET', '/nodes/node-1/desired')) as { payload: string };
    const generation = (JSON.parse(first.payload) as { generation: number }).generation;
    const gained = api.call('GET', `/nodes/node-1/desired?after=${generation}&waitMs=10000`);
    await settle();
    // beta's first instance lands on node-1: its document now lists a second tenant.
    await ok(api, 'POST', '/tenants/beta/pools/web/scale', { running: 1 });
    const answer = await gained;
    const doc = JSON.parse((answer.body as { payload: string }).payload) as {
      generation: number;
      tenants: Array<{ id: string }>;
    };
    expect(doc.tenants.map((t) => t.id).sort()).toEqual(['acme', 'beta']);
    const delivered = counting.computed('node-1');
    // The next watch looks at its marks: nothing changed, so nothing is computed (it was
    // computed again when only the old tenants' marks were known).
    const next = api.call('GET', `/nodes/node-1/desired?after=${doc.generation}&waitMs=600`);
    expect(((await next).body as { unchanged?: boolean }).unchanged).toBe(true);
    expect(counting.computed('node-1')).toBe(delivered);
  });

  it('measures propagation from a committed change to the watch answer carrying it', async () => {
    const api = await apiOver(db.store(), { notifier: new ChangeNotifier() });
    const { a } = await twoTenantsOnTwoNodes(api);
    const current = (await ok(api, 'GET', `/nodes/${a.nodeId}/desired`)) as { payload: string };
    const generation = (JSON.parse(current.payload) as { generation: number }).generation;
    const count = async () => {
      const text = await (
        await api.request('/metrics', { headers: { authorization: `Bearer ${ADMIN}` } })
      ).text();
      return Number(/^mvm_desired_propagation_seconds_count (\d+)$/m.exec(text)?.[1] ?? NaN);
    };
    expect(await count()).toBe(0);
    const watch = api.call('GET', `/nodes/${a.nodeId}/desired?after=${generation}&waitMs=10000`);
    await settle();
    await ok(api, 'POST', `${pathOf(a)}/actions`, { action: 'stop' });
    await watch;
    expect(await count()).toBe(1);
  });
});

describe('ChangeNotifier', () => {
  const watched = { nodeId: 'node-1', tenants: ['acme'] };

  it('announces only changes that name something, and wakes only the concerned', async () => {
    const notifier = new ChangeNotifier();
    notifier.notify({});
    notifier.notify({ nodes: [], tenants: [] });
    expect(notifier.current).toBe(0);
    const since = notifier.current;
    let woken = false;
    const wait = notifier.waitForChange(since, watched, 5_000).then(() => (woken = true));
    notifier.notify({ nodes: ['node-2'], tenants: ['beta'] });
    await settle();
    expect(woken).toBe(false);
    notifier.notify({ tenants: ['acme'] });
    await wait;
    expect(woken).toBe(true);
  });

  it('does not miss a change announced while the watcher was reading', async () => {
    const notifier = new ChangeNotifier();
    const since = notifier.current;
    notifier.notify({ nodes: ['node-1'] });
    notifier.notify({ nodes: ['node-2'] });
    const started = performance.now();
    await notifier.waitForChange(since, watched, 5_000);
    expect(performance.now() - started).toBeLessThan(100);
    // Changes that concern others only, announced meanwhile, keep it waiting until the timeout.
    const later = notifier.current;
    notifier.notify({ fleet: false, tenants: ['beta'] });
    const waited = performance.now();
    await notifier.waitForChange(later, watched, 200);
    expect(performance.now() - waited).toBeGreaterThanOrEqual(190);
    notifier.notify({ fleet: true });
    const woken = performance.now();
    await notifier.waitForChange(later, watched, 5_000);
    expect(performance.now() - woken).toBeLessThan(100);
  });
});
