/**
 * Placement by what instances hold (core/held-memory.ts), through the coordinator's API on
 * both stores: a node whose heartbeat says its running instances hold less than their size
 * takes another instance; an agent that does not measure is counted by size; the tenant
 * quota stays on sizes.
 */
import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, type Fleet, type InstanceJson } from './node-health-harness.ts';

const POOL = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };

async function twoRunning(fleet: Fleet): Promise<InstanceJson[]> {
  await fleet.registerNode('node-a', 4, 1024);
  await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
  await fleet.ok('POST', '/tenants/acme/pools', POOL);
  await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 2 });
  const placed = await fleet.instances();
  expect(placed.map((i) => i.nodeId)).toEqual(['node-a', 'node-a']);
  for (const i of placed) await fleet.report(i, 'running');
  return placed;
}

function heartbeat(fleet: Fleet, usage: Record<string, unknown>) {
  return fleet.call('POST', '/nodes/node-a/heartbeat', {
    capacity: fleet.capacity(4, 1024),
    usage: { vcpus: 2, instances: { running: 2 }, diskFreeMib: 1000, ...usage },
    instances: [],
  });
}

const unplaced = async (fleet: Fleet) =>
  (await fleet.instances()).filter((i) => i.nodeId === null).map((i) => i.id);

await describeEachDatabase('placement by held memory', ({ store }) => {
  it('places a third 512 MiB instance on a 1 GiB node once its two hold 100 MiB each', async () => {
    const fleet = await fleetOver(store());
    await twoRunning(fleet);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 3 });
    expect(await unplaced(fleet)).toHaveLength(1);

    // An agent that reports no held memory is counted by size: still no room.
    expect((await heartbeat(fleet, { memMib: 1024 })).status).toBe(200);
    await fleet.ok('POST', '/scheduler/run');
    expect(await unplaced(fleet)).toHaveLength(1);

    expect((await heartbeat(fleet, { memMib: 1024, heldMemMib: 200 })).status).toBe(200);
    const node = (await fleet.ok('GET', '/nodes/node-a')) as { usage: Record<string, unknown> };
    expect(node.usage).toMatchObject({ memMib: 1024, heldMemMib: 200 });
    await fleet.ok('POST', '/scheduler/run');
    expect(await unplaced(fleet)).toEqual([]);
    expect((await fleet.instances()).map((i) => i.nodeId)).toEqual(['node-a', 'node-a', 'node-a']);

    // Three held at 200 + 512 by the last report: a fourth does not fit (712 + 512 > 1024).
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 4 });
    expect(await unplaced(fleet)).toHaveLength(1);
  });

  it('keeps the tenant quota on sizes, whatever its instances hold', async () => {
    const fleet = await fleetOver(store());
    await twoRunning(fleet);
    expect((await heartbeat(fleet, { memMib: 1024, heldMemMib: 64 })).status).toBe(200);
    await fleet.ok('PATCH', '/tenants/acme', { quotas: { maxMemMib: 1024 } });
    const refused = await fleet.call('POST', '/tenants/acme/pools/web/scale', { running: 3 });
    expect(refused.status).toBe(422);
    expect(JSON.stringify(refused.body)).toMatch(/memory MiB 1536 > max 1024/);
    expect(await fleet.instances()).toHaveLength(2);
  });

  it('refuses a heartbeat whose held memory is not a bounded whole number, changing nothing', async () => {
    const fleet = await fleetOver(store());
    await twoRunning(fleet);
    for (const heldMemMib of [-1, 1.5, 'lots', 2 ** 40]) {
      expect((await heartbeat(fleet, { memMib: 1024, heldMemMib })).status).toBe(400);
    }
    const node = (await fleet.ok('GET', '/nodes/node-a')) as { usage: unknown };
    expect(node.usage).toBeNull();
  });

  it('releases a pressure-slept instance once the report says its node has room, as placement counts', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 4, 1024);
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
    await fleet.ok('POST', '/tenants/acme/pools', POOL);
    await fleet.ok('POST', '/tenants/acme/pools', { ...POOL, id: 'db', critical: true });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { warm: 2 });
    for (const i of await fleet.instances()) await fleet.report(i, 'warm');
    fleet.clock.advance(5_000);
    // The critical db needs 512 MiB of a full node: one warm web instance sleeps for it.
    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 1 });
    const slept = (await fleet.instances()).filter((i) => i.desiredStatus === 'sleeping');
    expect(slept).toHaveLength(1);
    const victim = slept[0] as InstanceJson;
    await fleet.report(victim, 'sleeping');
    const db = (await fleet.instances()).find((i) => i.poolId === 'db') as InstanceJson;
    await fleet.report(db, 'running');
    const victimNow = async () =>
      (await fleet.instances()).find((i) => i.id === victim.id) as InstanceJson & {
        pressureSleptAt: string | null;
      };

    // By size the node is full (512 warm + 512 running): it stays asleep.
    expect((await heartbeat(fleet, { memMib: 1024 })).status).toBe(200);
    await fleet.ok('POST', '/scheduler/run');
    expect(await victimNow()).toMatchObject({ desiredStatus: 'sleeping' });

    // The two hold 300 MiB together: 724 MiB are free, and it comes back warm.
    expect((await heartbeat(fleet, { memMib: 1024, heldMemMib: 300 })).status).toBe(200);
    await fleet.ok('POST', '/scheduler/run');
    expect(await victimNow()).toMatchObject({ desiredStatus: 'warm', pressureSleptAt: null });
  });
});
