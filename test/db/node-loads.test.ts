import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open-store.ts';
import { nodeLoadsMigration } from '../../src/db/migrations/0037-node-loads.ts';
import type { DesiredStatus } from '../../src/core/model.ts';
import { T1, instance, keyOf, node, pool, tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

/**
 * `node_loads` (migration 0037) against what it replaced, the allocations summed by pool size;
 * test/db/node-allocations.test.ts compares `loads()` after 120 random writes as well.
 */
await describeEachDatabase('node loads', (db) => {
  async function seed() {
    const store = db.store();
    await store.tenants.insert(tenant('acme', 99));
    await store.tenants.insert(tenant('beta', 98));
    await store.pools.insert(pool('acme', 'workers'));
    await store.pools.insert(pool('beta', 'workers', { vcpus: 3, memMib: 700 }));
    const rows: Array<[string, string, string | null, DesiredStatus]> = [
      ['acme', 'a1', 'node-a', 'running'],
      ['acme', 'a2', 'node-a', 'warm'],
      ['acme', 'a3', 'node-b', 'sleeping'],
      ['acme', 'a4', null, 'running'],
      ['beta', 'b1', 'node-a', 'running'],
      ['beta', 'b2', 'node-b', 'warm'],
      ['beta', 'b3', 'node-b', 'stopped'],
    ];
    let host = 10;
    for (const [tenantId, id, nodeId, desiredStatus] of rows) {
      host += 1;
      const mac = `02:00:0a:f0:70:${host.toString(16)}`;
      await store.instances.insert(instance(id, host, { tenantId, nodeId, desiredStatus, mac }));
    }
  }

  const expected = [
    // acme workers are 2 vCPUs / 1024 MiB (fixtures), beta's 3 / 700.
    { nodeId: 'node-a', vcpus: 2 + 2 + 3, memMib: 1024 + 1024 + 700 },
    { nodeId: 'node-b', vcpus: 3, memMib: 700 },
  ];

  it('sums what placed running and warm instances hold, per node', async () => {
    await seed();
    expect(await db.store().nodes.loads()).toEqual(expected);
    // Moves, a change of what it holds, and a delete each move the sums.
    const store = db.store();
    const a1 = (await store.instances.get({
      tenantId: 'acme',
      poolId: 'workers',
      instanceId: 'a1',
    }))!;
    await store.instances.update(keyOf(a1), { nodeId: 'node-b' }, a1.version, T1);
    const a3 = (await store.instances.get({
      tenantId: 'acme',
      poolId: 'workers',
      instanceId: 'a3',
    }))!;
    await store.instances.setDesired(keyOf(a3), 'running', a3.version, T1);
    await store.instances.delete({ tenantId: 'beta', poolId: 'workers', instanceId: 'b1' });
    expect(await store.nodes.loads()).toEqual([
      { nodeId: 'node-a', vcpus: 2, memMib: 1024 },
      { nodeId: 'node-b', vcpus: 2 + 2 + 3, memMib: 1024 + 1024 + 700 },
    ]);
  });

  it('reads nodes with what each holds in one read (withLoads), as list and loads do', async () => {
    await seed();
    const store = db.store();
    for (const id of ['node-a', 'node-b', 'node-c']) await store.nodes.upsert(node(id));
    const ids = ['node-c', 'node-a', 'node-b', 'node-gone'];
    const nodes = await store.nodes.list({ ids });
    const loads = new Map((await store.nodes.loads({ nodeIds: ids })).map((l) => [l.nodeId, l]));
    const read = await store.nodes.withLoads(ids);
    expect(read).toEqual(
      nodes.map((n) => ({
        node: n,
        held: { vcpus: loads.get(n.id)?.vcpus ?? 0, memMib: loads.get(n.id)?.memMib ?? 0 },
      })),
    );
    // node-c holds nothing; an unknown id is skipped; the order is the nodes'.
    expect(read.map((r) => [r.node.id, r.held])).toEqual([
      ['node-a', { vcpus: 2 + 2 + 3, memMib: 1024 + 1024 + 700 }],
      ['node-b', { vcpus: 3, memMib: 700 }],
      ['node-c', { vcpus: 0, memMib: 0 }],
    ]);
    expect(await store.nodes.withLoads([])).toEqual([]);
  });

  it('is backfilled from the instances by the migration', async () => {
    await seed();
    const { db: kysely, dialect } = openDatabase(db.url());
    try {
      const migration = nodeLoadsMigration(dialect);
      await migration.down?.(kysely);
      await migration.up(kysely);
    } finally {
      await kysely.destroy();
    }
    expect(await db.store().nodes.loads()).toEqual(expected);
  });

  it.skipIf(db.name !== 'postgres')(
    'leaves the rows alone on a running ⇄ warm change, so such writers never wait on them',
    async () => {
      await seed();
      const store = db.store();
      const a1 = { tenantId: 'acme', poolId: 'workers', instanceId: 'a1' };
      const b1 = { tenantId: 'beta', poolId: 'workers', instanceId: 'b1' };
      const { db: holder } = openDatabase(db.url());
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked = () => {};
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      // Another transaction holds every load row until told to let go.
      const holding = holder.transaction().execute(async (trx) => {
        await sql`SELECT * FROM node_loads FOR UPDATE`.execute(trx);
        locked();
        await released;
      });
      try {
        await isLocked;
        const before = (await store.instances.get(a1))!;
        const toggled = await store.instances.setDesired(a1, 'warm', before.version, T1);
        expect(toggled.desiredStatus).toBe('warm');
        // A change of what a node holds does wait for the row (the lock is real).
        const b = (await store.instances.get(b1))!;
        let stopped = false;
        const stopping = store.instances
          .setDesired(b1, 'stopped', b.version, T1)
          .then(() => (stopped = true));
        await new Promise((r) => setTimeout(r, 300));
        expect(stopped).toBe(false);
        release();
        await stopping;
        expect(stopped).toBe(true);
      } finally {
        release();
        await holding;
        await holder.destroy();
      }
    },
  );
});
