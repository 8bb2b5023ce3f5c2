import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, START, type Fleet, type InstanceJson } from './node-health-harness.ts';

type Json = Record<string, unknown>;
type Held = InstanceJson & { pressureSleptAt: string | null };

async function tenantWithPools(
  fleet: Fleet,
  pools: Array<{ id: string; critical?: boolean; pinned?: boolean }>,
) {
  await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
  for (const p of pools) {
    await fleet.ok('POST', '/tenants/acme/pools', {
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 512,
      ...p,
    });
  }
}

const ofPool = async (fleet: Fleet, pool: string) =>
  (await fleet.instances()).filter((i) => i.poolId === pool) as Held[];

async function events(fleet: Fleet, action: string): Promise<Json[]> {
  const all = (await fleet.ok('GET', '/events?last=1000')) as Json[];
  return all.filter((e) => e.action === action);
}

/** Pool `web` warm 2 on a node with room for two 1-vCPU instances, observed warm; b is hotter. */
async function warmWeb(fleet: Fleet, critical = false) {
  await fleet.registerNode('node-a', 2);
  await tenantWithPools(fleet, [
    { id: 'web', critical },
    { id: 'db', critical: true },
  ]);
  await fleet.ok('POST', '/tenants/acme/pools/web/scale', { warm: 2 });
  const [cold, hot] = await ofPool(fleet, 'web');
  if (!cold || !hot) throw new Error('web should have two instances');
  for (const i of [cold, hot]) await fleet.report(i, 'warm');
  fleet.clock.advance(5_000);
  const sample = { tenant: 'acme', pool: 'web', instance: hot.id, lastActiveAt: iso(START) };
  expect((await fleet.heartbeat('node-a', 2, [sample])).status).toBe(200);
  return { cold, hot };
}

const iso = (ms: number) => new Date(ms).toISOString();

await describeEachDatabase('sleep under memory pressure', ({ store }) => {
  it('sleeps the coldest warm instance for a critical pool, then wakes it when room returns', async () => {
    const fleet = await fleetOver(store());
    const { cold, hot } = await warmWeb(fleet);

    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 1 });
    const [db] = await ofPool(fleet, 'db');
    expect(db?.nodeId).toBe('node-a');
    const web = new Map((await ofPool(fleet, 'web')).map((i) => [i.id, i]));
    expect(web.get(cold.id)).toMatchObject({ desiredStatus: 'sleeping', status: 'warm' });
    expect(web.get(cold.id)?.pressureSleptAt).toEqual(expect.any(String));
    expect(web.get(hot.id)).toMatchObject({ desiredStatus: 'warm', pressureSleptAt: null });
    expect(await events(fleet, 'instance.pressure-sleep')).toEqual([
      expect.objectContaining({
        actor: 'system:scheduler',
        target: `acme/web/${cold.id}`,
        detail: { nodeId: 'node-a', madeRoomFor: `acme/db/${db?.id}` },
      }),
    ]);

    // The pool still has its two warm instances: re-materializing wakes nothing else.
    const pool = (await fleet.ok('GET', '/tenants/acme/pools/web')) as { counts: Json };
    expect(pool.counts).toMatchObject({ running: 0, warm: 2, sleeping: 0 });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { warm: 2 });
    const again = await ofPool(fleet, 'web');
    expect(again).toHaveLength(2);
    expect(again.find((i) => i.id === cold.id)).toMatchObject({ desiredStatus: 'sleeping' });
    // Nor do repeated scheduler runs change anything.
    for (let run = 0; run < 2; run += 1) {
      expect(await fleet.ok('POST', '/scheduler/run')).toMatchObject({ placed: [], unplaced: [] });
    }
    expect(await events(fleet, 'instance.pressure-sleep')).toHaveLength(1);

    await fleet.report(web.get(cold.id) as InstanceJson, 'sleeping');
    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 0 });
    const released = (await ofPool(fleet, 'web')).find((i) => i.id === cold.id);
    expect(released).toMatchObject({ desiredStatus: 'warm', pressureSleptAt: null });
    expect(await events(fleet, 'instance.pressure-release')).toEqual([
      expect.objectContaining({ actor: 'system:scheduler', target: `acme/web/${cold.id}` }),
    ]);
    expect(await fleet.documentIds('node-a')).toContain(cold.id);
  });

  it('keeps a held instance asleep while waking it would break a quota lowered meanwhile', async () => {
    const fleet = await fleetOver(store());
    const { cold } = await warmWeb(fleet);
    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 1 });
    // Held asleep, the cold instance counts as sleeping: one warm left, so max-warm 1 holds.
    await fleet.ok('PATCH', '/tenants/acme', { quotas: { maxWarm: 1 } });
    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 0 });
    const held = (await ofPool(fleet, 'web')).find((i) => i.id === cold.id);
    expect(held).toMatchObject({ desiredStatus: 'sleeping' });
    expect(held?.pressureSleptAt).toEqual(expect.any(String));
    expect(await events(fleet, 'instance.pressure-release')).toEqual([]);
    const warm = (await fleet.instances()).filter((i) => i.desiredStatus === 'warm');
    expect(warm).toHaveLength(1);

    // Room within the quota again: the next scheduler run wakes it.
    await fleet.ok('PATCH', '/tenants/acme', { quotas: { maxWarm: 2 } });
    await fleet.ok('POST', '/scheduler/run');
    const released = (await ofPool(fleet, 'web')).find((i) => i.id === cold.id);
    expect(released).toMatchObject({ desiredStatus: 'warm', pressureSleptAt: null });
  });

  it('lets a scale-down take a held instance, clearing its marker', async () => {
    const fleet = await fleetOver(store());
    const { cold } = await warmWeb(fleet);
    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 1 });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { warm: 1, sleeping: 1 });
    const held = (await ofPool(fleet, 'web')).find((i) => i.id === cold.id);
    expect(held).toMatchObject({ desiredStatus: 'sleeping', pressureSleptAt: null });
  });

  it("never sleeps a critical pool's warm instances; the pending one stays unplaced", async () => {
    const fleet = await fleetOver(store());
    await warmWeb(fleet, true);
    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 1 });
    const [db] = await ofPool(fleet, 'db');
    expect(db?.nodeId).toBeNull();
    const web = await ofPool(fleet, 'web');
    expect(web.map((i) => i.desiredStatus)).toEqual(['warm', 'warm']);
    const outcome = (await fleet.ok('POST', '/scheduler/run')) as {
      unplaced: Array<{ instance: string; reason: string }>;
    };
    expect(outcome.unplaced).toEqual([
      {
        instance: `acme/db/${db?.id}`,
        reason: expect.stringMatching(
          /^no node has 1 vCPU and 512 MiB free, .*neither critical nor pinned would not make room/,
        ),
      },
    ]);
    expect(await events(fleet, 'instance.pressure-sleep')).toEqual([]);
  });
});
