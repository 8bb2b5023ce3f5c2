import { sql } from 'kysely';
import { beforeEach, expect, it } from 'vitest';
import type { DesiredStatus, Instance } from '../../src/core/model.ts';
import type { NodeAllocation, NodeLoad, Store } from '../../src/ports/store.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import { T1, instance, keyOf, pool, tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

/** What the allocations must say: the instances table grouped by node, tenant and pool. */
async function fromInstances(store: Store): Promise<NodeAllocation[]> {
  const groups = new Map<string, NodeAllocation>();
  for (const i of await store.instances.list()) {
    if (i.nodeId === null || i.desiredStatus === 'destroyed') continue;
    const key = `${i.nodeId}/${i.tenantId}/${i.poolId}`;
    const group = groups.get(key) ?? {
      nodeId: i.nodeId,
      tenantId: i.tenantId,
      poolId: i.poolId,
      instances: 0,
      holding: 0,
    };
    group.instances += 1;
    if (i.desiredStatus === 'running' || i.desiredStatus === 'warm') group.holding += 1;
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) =>
    `${a.nodeId}/${a.tenantId}/${a.poolId}` < `${b.nodeId}/${b.tenantId}/${b.poolId}` ? -1 : 1,
  );
}

/** What each node holds: its allocations' holding times their pool's size (fixture sizes). */
function loadsOf(allocations: readonly NodeAllocation[]): NodeLoad[] {
  const size: Record<string, { vcpus: number; memMib: number }> = {
    workers: { vcpus: 2, memMib: 1024 },
    gateways: { vcpus: 3, memMib: 700 },
  };
  const byNode = new Map<string, NodeLoad>();
  for (const a of allocations) {
    if (a.holding === 0) continue;
    const load = byNode.get(a.nodeId) ?? { nodeId: a.nodeId, vcpus: 0, memMib: 0 };
    load.vcpus += a.holding * (size[a.poolId]?.vcpus ?? 0);
    load.memMib += a.holding * (size[a.poolId]?.memMib ?? 0);
    byNode.set(a.nodeId, load);
  }
  return [...byNode.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
}

const desired: DesiredStatus[] = ['running', 'warm', 'sleeping', 'stopped', 'destroyed'];
const nodes = [null, 'node-a', 'node-b'];

/** A small deterministic generator: the same sequence of writes on both stores. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2 ** 31);
}

await describeEachDatabase('node allocations', ({ name, store, url }) => {
  beforeEach(async () => {
    await store().tenants.insert(tenant('acme', 99));
    await store().pools.insert(pool('acme', 'workers'));
    await store().pools.insert(
      pool('acme', 'gateways', { role: 'gateway', vcpus: 3, memMib: 700 }),
    );
  });

  it('follow every insert, placement, move, change of intent and delete', async () => {
    const next = lcg(17);
    const live: Instance[] = [];
    for (let step = 0; step < 120; step += 1) {
      const roll = next() % 10;
      const target = live[next() % Math.max(1, live.length)];
      if (roll < 3 || !target) {
        const poolId = next() % 2 === 0 ? 'workers' : 'gateways';
        const fresh = instance(`i-${step}`, 2 + step, {
          poolId,
          mac: `02:00:00:00:01:${step.toString(16).padStart(2, '0')}`,
          nodeId: nodes[next() % nodes.length] ?? null,
          desiredStatus: desired[next() % desired.length] ?? 'running',
        });
        await store().instances.insert(fresh);
        live.push(fresh);
      } else if (roll < 6) {
        const status = desired[next() % desired.length] ?? 'running';
        await store().instances.setDesired(keyOf(target), status, target.version, T1);
      } else if (roll < 8) {
        const nodeId = nodes[next() % nodes.length] ?? null;
        await store().instances.update(keyOf(target), { nodeId }, target.version, T1);
      } else if (roll < 9) {
        await store().instances.transition(keyOf(target), target.status, 'created', T1, {
          nodeId: null,
        });
      } else {
        await store().instances.delete(keyOf(target));
        live.splice(live.indexOf(target), 1);
      }
      // Re-read: the repo moved the version.
      for (const [n, i] of live.entries()) live[n] = (await store().instances.get(keyOf(i))) ?? i;
      const grouped = await fromInstances(store());
      expect(await store().nodes.allocations()).toEqual(grouped);
      expect(await store().nodes.loads()).toEqual(loadsOf(grouped));
    }
    const all = await store().nodes.allocations();
    expect(all.length).toBeGreaterThan(0);
    // Filtered by tenant: the same rows of those tenants, and none for none.
    const tenantIds = [...new Set(all.map((a) => a.tenantId))].slice(0, 1);
    expect(await store().nodes.allocations({ tenantIds })).toEqual(
      all.filter((a) => tenantIds.includes(a.tenantId)),
    );
    expect(await store().nodes.allocations({ tenantIds: [] })).toEqual([]);
    expect(await store().nodes.allocations({ tenantIds: ['ghost'] })).toEqual([]);
    // Loads filtered by node: the same rows of those nodes, and none for none.
    const loads = await store().nodes.loads();
    const first = loads.slice(0, 1).map((l) => l.nodeId);
    expect(await store().nodes.loads({ nodeIds: first })).toEqual(
      loads.filter((l) => first.includes(l.nodeId)),
    );
    expect(await store().nodes.loads({ nodeIds: [] })).toEqual([]);
    expect(await store().nodes.loads({ nodeIds: ['ghost'] })).toEqual([]);
  });

  it('are not written by a change that keeps an instance live and holding (Postgres)', async () => {
    if (name !== 'postgres') return;
    await store().instances.insert(instance('t', 2, { nodeId: 'node-a' }));
    const { db } = openDatabase(url());
    // A row's xmin is the transaction that wrote its version: unchanged, the row was not written.
    const written = async () =>
      (
        await sql<{ xmin: string }>`SELECT xmin::text AS xmin FROM node_allocations
          WHERE node_id = 'node-a' AND tenant_id = 'acme' AND pool_id = 'workers'`.execute(db)
      ).rows[0]?.xmin;
    try {
      const before = await written();
      await store().instances.setDesired(keyOf(instance('t')), 'warm', 1, T1);
      await store().instances.setDesired(keyOf(instance('t')), 'running', 2, T1);
      expect(await written()).toBe(before);
      await store().instances.setDesired(keyOf(instance('t')), 'sleeping', 3, T1);
      expect(await written()).not.toBe(before);
      expect(await store().nodes.allocations()).toEqual(await fromInstances(store()));
    } finally {
      await db.destroy();
    }
  });

  it('lists the held instances, oldest mark first, leaving out the destroyed', async () => {
    const marks = [
      '2026-03-01T09:00:02.000Z',
      '2026-03-01T09:00:01.000Z',
      null,
      '2026-03-01T09:00:03.000Z',
    ];
    for (const [n, mark] of marks.entries()) {
      await store().instances.insert(
        instance(`h-${n}`, 20 + n, {
          mac: `02:00:00:00:02:${n.toString(16).padStart(2, '0')}`,
          nodeId: 'node-a',
          desiredStatus: n === 3 ? 'destroyed' : 'sleeping',
          pressureSleptAt: mark,
        }),
      );
    }
    const held = await store().instances.listPressureHeld();
    expect(held.map((i) => i.id)).toEqual(['h-1', 'h-0']);
    expect(await store().instances.anyPressureHeld()).toBe(true);
  });

  it('finds unplaced live instances and pressure-held ones by index', async () => {
    await store().instances.insert(instance('a', 2, { nodeId: null }));
    await store().instances.insert(
      instance('b', 3, { nodeId: null, desiredStatus: 'destroyed', mac: '02:00:00:00:02:01' }),
    );
    await store().instances.insert(instance('c', 4, { nodeId: 'n', mac: '02:00:00:00:02:02' }));
    expect((await store().instances.listUnplaced()).map((i) => i.id)).toEqual(['a']);
    expect(await store().instances.anyPressureHeld()).toBe(false);
    const c = (await store().instances.get({
      tenantId: 'acme',
      poolId: 'workers',
      instanceId: 'c',
    }))!;
    await store().instances.update(keyOf(c), { pressureSleptAt: T1 }, c.version, T1);
    expect(await store().instances.anyPressureHeld()).toBe(true);
  });
});
