/**
 * The scheduler's pressure release is a wake no one asked for: during a move of the
 * pressure-slept instance it waits for the move (core/move-hold.ts). Through the in-process
 * coordinator on SQLite and Postgres.
 */
import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, type Fleet, type InstanceJson } from './node-health-harness.ts';

type Json = Record<string, unknown>;

const hex = (c: string) => c.repeat(64);
const manifest = {
  format: 'mvm-move-bundle/1',
  compression: 'gzip',
  parts: [
    { name: 'snapshot.vmstate', bytes: 30, sha256: hex('a'), rawBytes: 90, rawSha256: hex('b') },
  ],
};

/** The desired status a node's current document gives the instance, if it names it. */
async function told(fleet: Fleet, node: string, id: string): Promise<string | undefined> {
  const issued = await fleet.services.desired.issue(node);
  const doc = JSON.parse(issued.envelope.payload) as {
    tenants: Array<{ pools: Array<{ instances: Array<{ id: string; desiredStatus: string }> }> }>;
  };
  const all = doc.tenants.flatMap((t) => t.pools.flatMap((p) => p.instances));
  return all.find((i) => i.id === id)?.desiredStatus;
}

const ofPool = async (fleet: Fleet, pool: string) =>
  (await fleet.instances()).filter((i) => i.poolId === pool);

await describeEachDatabase('a pressure release during a move', ({ store }) => {
  it('waits for the move and is carried out on the target', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 2);
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
    const pool = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
    await fleet.ok('POST', '/tenants/acme/pools', { id: 'web', ...pool });
    await fleet.ok('POST', '/tenants/acme/pools', { id: 'db', ...pool, critical: true });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { warm: 2 });
    for (const i of await ofPool(fleet, 'web')) await fleet.report(i, 'warm');
    // A critical instance needs room: one warm web instance is put to sleep for it.
    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 1 });
    const slept = (await ofPool(fleet, 'web')).find((i) => i.desiredStatus === 'sleeping');
    if (!slept) throw new Error('no web instance was slept under pressure');
    await fleet.report(slept, 'sleeping');

    await fleet.registerNode('node-b', 2);
    const path = `/tenants/acme/pools/web/instances/${slept.id}`;
    const move = (await fleet.ok('POST', `${path}/move`, { node: 'node-b' })) as Json;
    const report = (node: string, body: unknown) =>
      fleet.ok('POST', `/nodes/${node}/moves/${String(move.id)}/events`, body) as Promise<Json>;
    await report('node-a', { kind: 'start' });
    await report('node-a', { kind: 'exported', manifest });

    // Room returns on node-a: the scheduler releases the instance back to warm.
    await fleet.ok('POST', '/tenants/acme/pools/db/scale', { running: 0 });
    const released = (await fleet.instances()).find((i) => i.id === slept.id) as InstanceJson;
    expect(released).toMatchObject({ nodeId: 'node-a', desiredStatus: 'warm', status: 'sleeping' });
    const events = (await fleet.ok('GET', '/events?last=200')) as Json[];
    expect(events.map((e) => e.action)).toContain('instance.pressure-release');
    // Its source keeps it asleep while it moves.
    expect(await told(fleet, 'node-a', slept.id)).toBe('sleeping');

    await report('node-b', { kind: 'received', part: 'snapshot.vmstate', bytes: 30 });
    expect(await report('node-b', { kind: 'imported' })).toMatchObject({ step: 'done' });
    expect((await fleet.instances()).find((i) => i.id === slept.id)).toMatchObject({
      nodeId: 'node-b',
      desiredStatus: 'warm',
    });
    expect(await told(fleet, 'node-b', slept.id)).toBe('warm');
    expect(await told(fleet, 'node-a', slept.id)).toBeUndefined();
  });
});
