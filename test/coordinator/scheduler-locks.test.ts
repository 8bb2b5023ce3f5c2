import { describe, expect, it } from 'vitest';
import { NextRun } from '../../src/coordinator/services/next-run.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, type Api, ok, twoNodes } from './api-client-harness.ts';

async function tenantWithPool(api: Api, tenant: string, quotas?: Record<string, number>) {
  await ok(api, 'POST', '/tenants', { id: tenant, ...(quotas ? { quotas } : {}) });
  const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
  await ok(api, 'POST', `/tenants/${tenant}/pools`, pool);
}

/** vCPUs each node holds (running and warm), from the instances themselves. */
async function heldByNode(store: Store): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  for (const i of await store.instances.list()) {
    if (i.nodeId === null || (i.desiredStatus !== 'running' && i.desiredStatus !== 'warm'))
      continue;
    held.set(i.nodeId, (held.get(i.nodeId) ?? 0) + 1);
  }
  return held;
}

await describeEachDatabase('scheduler locks', (db) => {
  it("places one tenant's instance while another tenant's change of intent is in flight", async () => {
    const store = db.store();
    const api = await apiOver(store);
    const capacity = { vcpus: 8, memMib: 8192, diskGib: 100 };
    await ok(api, 'PUT', '/nodes/node-1', { hostname: 'node-1', arch: 'x86_64', capacity });
    await tenantWithPool(api, 'acme');
    await tenantWithPool(api, 'beta');
    if (db.name === 'sqlite') {
      // One writer at a time on SQLite: nothing to overlap, the placement itself is checked.
      await ok(api, 'POST', '/tenants/beta/pools/web/scale', { running: 1 });
      const rows = await store.instances.list({ tenantId: 'beta' });
      expect(rows.map((i) => i.nodeId)).toEqual(['node-1']);
      return;
    }
    // acme's lock held by a transaction that does not end until beta's scale has returned.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked = () => {};
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const acme = store.transaction(async (repos) => {
      await repos.tenants.lock('acme');
      locked();
      await held;
    });
    await lockTaken;
    try {
      // beta's scale leaves an instance to place: its pass must not wait for acme's lock.
      const scaled = ok(api, 'POST', '/tenants/beta/pools/web/scale', { running: 1 });
      const outcome = await Promise.race([
        scaled.then(() => 'returned'),
        new Promise((resolve) => setTimeout(() => resolve('blocked'), 10_000)),
      ]);
      expect(outcome).toBe('returned');
      const rows = await store.instances.list({ tenantId: 'beta' });
      expect(rows.map((i) => i.nodeId)).toEqual(['node-1']);
    } finally {
      release();
      await acme;
    }
  });

  it('never overcommits a node under many parallel scales of different tenants', async () => {
    const store = db.store();
    const api = await apiOver(store);
    // 3 nodes of 4 vCPUs: 12 slots for 8 tenants asking 3 each (24): half stays unplaced.
    const capacity = { vcpus: 4, memMib: 65536, diskGib: 100 };
    for (const node of ['node-1', 'node-2', 'node-3']) {
      await ok(api, 'PUT', `/nodes/${node}`, { hostname: node, arch: 'x86_64', capacity });
    }
    const tenants = Array.from({ length: 8 }, (_, i) => `t${i}`);
    for (const tenant of tenants) await tenantWithPool(api, tenant);
    // Each tenant scales up step by step, all tenants at once. Only new instances: raising a
    // placed, sleeping one back to running is not checked against its node (see docs/scale.md).
    await Promise.all(
      tenants.map(async (tenant) => {
        for (const running of [1, 2, 3]) {
          await ok(api, 'POST', `/tenants/${tenant}/pools/web/scale`, { running });
        }
      }),
    );
    const held = await heldByNode(store);
    for (const node of ['node-1', 'node-2', 'node-3']) {
      expect(held.get(node) ?? 0).toBeLessThanOrEqual(4);
    }
    // Every slot is used: 12 placed, the other 12 wait for room.
    const live = (await store.instances.list()).filter((i) => i.desiredStatus === 'running');
    expect(live).toHaveLength(24);
    expect(live.filter((i) => i.nodeId !== null)).toHaveLength(12);
    // The store's allocations agree with the instances.
    const allocations = new Map<string, number>();
    for (const a of await store.nodes.allocations()) {
      allocations.set(a.nodeId, (allocations.get(a.nodeId) ?? 0) + a.holding);
    }
    expect(allocations).toEqual(held);
  });

  it("never breaks a tenant's quota under many parallel scales of that tenant", async () => {
    const store = db.store();
    const api = await apiOver(store);
    await twoNodes(api, { vcpus: 64, memMib: 65536, diskGib: 100 });
    await tenantWithPool(api, 'acme', { maxRunning: 5, maxVcpus: 5 });
    await ok(api, 'POST', '/tenants', { id: 'beta' });
    // Two pools of acme's and a neighbour scaling at once: acme's quota is 5 running.
    const pool2 = { id: 'api', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await ok(api, 'POST', '/tenants/acme/pools', pool2);
    const answers = await Promise.all(
      [1, 2, 3, 4, 5, 6].flatMap((running) =>
        ['web', 'api'].map((pool) =>
          api.call('POST', `/tenants/acme/pools/${pool}/scale`, { body: { running } }),
        ),
      ),
    );
    expect(answers.some((a) => a.status === 200)).toBe(true);
    for (const answer of answers) expect([200, 409, 422, 429]).toContain(answer.status);
    const running = (await store.instances.list({ tenantId: 'acme' })).filter(
      (i) => i.desiredStatus === 'running',
    );
    expect(running.length).toBeLessThanOrEqual(5);
    expect(running.filter((i) => i.nodeId === null)).toEqual([]);
  });
});

describe('NextRun', () => {
  it('runs one at a time, and every request made while one runs shares the next', async () => {
    let runs = 0;
    let active = 0;
    let most = 0;
    const gates: Array<() => void> = [];
    const next = new NextRun(async () => {
      runs += 1;
      active += 1;
      most = Math.max(most, active);
      await new Promise<void>((resolve) => gates.push(resolve));
      active -= 1;
      return runs;
    });
    const first = next.request();
    const queued = [next.request(), next.request(), next.request()];
    expect(runs).toBe(1);
    gates.shift()?.();
    expect(await first).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 0));
    // The next run started only after the first ended, and serves all three.
    expect(runs).toBe(2);
    const later = next.request();
    gates.shift()?.();
    expect(await Promise.all(queued)).toEqual([2, 2, 2]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    gates.shift()?.();
    expect(await later).toBe(3);
    expect(most).toBe(1);
  });

  it('starts the next run after a failed one', async () => {
    let calls = 0;
    const next = new NextRun(async () => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (calls === 1) throw new Error('first run fails');
      return calls;
    });
    const first = next.request();
    const second = next.request();
    await expect(first).rejects.toThrow('first run fails');
    expect(await second).toBe(2);
  });
});
