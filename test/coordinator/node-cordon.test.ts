import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { errorCode } from './api-client-harness.ts';
import { fleetOver, LOST_AFTER_MS, START, type Fleet } from './node-health-harness.ts';

type Json = Record<string, unknown>;

async function webPool(fleet: Fleet): Promise<void> {
  await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
  await fleet.ok('POST', '/tenants/acme/pools', {
    id: 'web',
    flake: '.',
    profile: 'minimal',
    vcpus: 1,
    memMib: 512,
  });
}

const nodeStatus = async (fleet: Fleet, id: string) =>
  ((await fleet.ok('GET', `/nodes/${id}`)) as Json).status;

const cordonEvents = async (fleet: Fleet) =>
  ((await fleet.ok('GET', '/events?last=100')) as Json[])
    .filter((e) => String(e.action).startsWith('node.') && String(e.action).includes('cordon'))
    .map((e) => `${String(e.action)} ${String(e.target)}`);

await describeEachDatabase('node cordon and uncordon', ({ store }) => {
  it('places nothing new on a cordoned node, keeps what it runs, and audits once', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 4);
    await webPool(fleet);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    await fleet.registerNode('node-b', 4);
    const cordoned = await fleet.call('POST', '/nodes/node-a/cordon');
    expect(cordoned.status).toBe(200);
    expect((cordoned.body as Json).status).toBe('cordoned');
    // Idempotent: a second cordon changes nothing and is not audited again.
    expect((await fleet.call('POST', '/nodes/node-a/cordon')).status).toBe(200);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 5 });
    const placed = await fleet.instances();
    expect(placed).toHaveLength(5);
    expect(placed.filter((i) => i.nodeId === 'node-a')).toHaveLength(1);
    expect(placed.filter((i) => i.nodeId === 'node-b')).toHaveLength(4);
    // Its heartbeats keep it cordoned.
    expect((await fleet.heartbeat('node-a', 4)).status).toBe(200);
    expect(await nodeStatus(fleet, 'node-a')).toBe('cordoned');
    expect(await cordonEvents(fleet)).toEqual(['node.cordon node-a']);
  });

  it('uncordon places what was waiting for room there', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 2);
    await webPool(fleet);
    await fleet.ok('POST', '/nodes/node-a/cordon');
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 2 });
    expect((await fleet.instances()).map((i) => i.nodeId)).toEqual([null, null]);
    const back = await fleet.call('POST', '/nodes/node-a/uncordon');
    expect(back.status).toBe(200);
    expect((back.body as Json).status).toBe('ready');
    expect((await fleet.instances()).map((i) => i.nodeId)).toEqual(['node-a', 'node-a']);
    expect((await fleet.call('POST', '/nodes/node-a/uncordon')).status).toBe(200);
    expect(await cordonEvents(fleet)).toEqual(['node.uncordon node-a', 'node.cordon node-a']);
  });

  it('a cordoned node that falls silent is lost like any other, its moves fail, and it comes back cordoned', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 2);
    await webPool(fleet);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    for (const i of await fleet.instances()) await fleet.report(i, 'running');
    await fleet.registerNode('node-b', 2);
    // A drain cordons node-a and asks for a move of its instance, then node-a falls silent.
    const drained = (await fleet.ok('POST', '/nodes/node-a/drain')) as { moves: Json[] };
    const move = String(drained.moves[0]?.id);
    expect(await nodeStatus(fleet, 'node-a')).toBe('cordoned');
    fleet.clock.advance(LOST_AFTER_MS / 2);
    expect((await fleet.heartbeat('node-b', 2)).status).toBe(200);
    await fleet.services.health.detectLost(new Date(START));
    expect(await nodeStatus(fleet, 'node-a')).toBe('cordoned');
    fleet.clock.advance(LOST_AFTER_MS / 2 + 1);
    const losses = await fleet.services.health.detectLost(new Date(START));
    expect(losses.map((l) => [l.nodeId, l.moved.length])).toEqual([['node-a', 1]]);
    expect(await fleet.ok('GET', '/nodes/node-a')).toMatchObject({
      status: 'lost',
      lostFrom: 'cordoned',
    });
    // What it ran is placed elsewhere; the drain's move is given up, naming why.
    expect((await fleet.instances()).map((i) => i.nodeId)).toEqual(['node-b']);
    const failed = (await fleet.ok('GET', `/moves/${move}`)) as Json;
    expect(failed.step).toBe('failed');
    expect(String(failed.reason)).toContain('source node node-a was lost');
    const lost = ((await fleet.ok('GET', '/events?last=100')) as Json[]).find(
      (e) => e.action === 'node.lost',
    );
    expect(lost?.detail).toMatchObject({ was: 'cordoned', failedMoves: 1, moved: 1 });
    // Heard again, it is cordoned as the operator left it: nothing new lands there.
    expect((await fleet.heartbeat('node-a', 2)).status).toBe(200);
    expect(await nodeStatus(fleet, 'node-a')).toBe('cordoned');
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 2 });
    expect((await fleet.instances()).map((i) => i.nodeId)).toEqual(['node-b', 'node-b']);
    // A ready node lost and back is ready.
    fleet.clock.advance(LOST_AFTER_MS + 1);
    expect((await fleet.heartbeat('node-a', 2)).status).toBe(200);
    await fleet.services.health.detectLost(new Date(START));
    expect(await nodeStatus(fleet, 'node-b')).toBe('lost');
    expect((await fleet.heartbeat('node-b', 2)).status).toBe(200);
    expect(await nodeStatus(fleet, 'node-b')).toBe('ready');
  });

  it('refuses a lost node, a node whose certificates are revoked, an unknown node and non-admins', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 2);
    await fleet.registerNode('node-b', 2);
    await webPool(fleet);
    fleet.clock.advance(LOST_AFTER_MS / 2);
    expect((await fleet.heartbeat('node-b', 2)).status).toBe(200);
    fleet.clock.advance(LOST_AFTER_MS / 2 + 1);
    await fleet.services.health.detectLost(new Date(START));
    expect(await nodeStatus(fleet, 'node-a')).toBe('lost');
    for (const verb of ['cordon', 'uncordon']) {
      const refused = await fleet.call('POST', `/nodes/node-a/${verb}`);
      expect(refused.status).toBe(409);
      expect(errorCode(refused)).toBe('conflict');
      expect(JSON.stringify(refused.body)).toContain('the node is lost');
    }
    expect(await nodeStatus(fleet, 'node-a')).toBe('lost');

    const now = fleet.clock.now().toISOString();
    await store().nodeCertificates.insert({
      serial: 'ab01',
      nodeId: 'node-b',
      fingerprint: 'f'.repeat(64),
      notAfter: '2027-11-22T00:00:00.000Z',
      issuedAt: now,
      revokedAt: null,
    });
    await store().nodeCertificates.revokeNode('node-b', now);
    await fleet.ok('POST', '/nodes/node-b/cordon');
    const revoked = await fleet.call('POST', '/nodes/node-b/uncordon');
    expect(revoked.status).toBe(409);
    expect(JSON.stringify(revoked.body)).toContain('mvm add host');
    expect(await nodeStatus(fleet, 'node-b')).toBe('cordoned');

    expect((await fleet.call('POST', '/nodes/nope/cordon')).status).toBe(404);
    expect((await fleet.call('POST', '/nodes/node-b/uncordon', undefined, null)).status).toBe(401);
    const issued = (await fleet.ok('POST', '/tenants/acme/tokens', { name: 'ci' })) as Json;
    const asTenant = await fleet.call(
      'POST',
      '/nodes/node-b/cordon',
      undefined,
      String(issued.token),
    );
    expect([403, 404]).toContain(asTenant.status);
    expect(await cordonEvents(fleet)).toEqual(['node.cordon node-b']);
  });
  it('plans a drain from what the node reports, changing nothing', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 4);
    await webPool(fleet);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1, sleeping: 1 });
    for (const i of await fleet.instances()) await fleet.report(i, i.desiredStatus);
    await fleet.registerNode('node-b', 4);
    await fleet.registerNode('node-c', 4);
    await fleet.ok('POST', '/nodes/node-c/cordon');
    const before = await fleet.instances();
    expect(before.every((i) => i.nodeId === 'node-a')).toBe(true);
    const plan = (await fleet.ok('GET', '/nodes/node-a/drain-plan')) as Json[];
    const byStatus = new Map(before.map((i) => [`acme/web/${i.id}`, i.desiredStatus]));
    expect(plan).toHaveLength(2);
    for (const action of plan) {
      const was = byStatus.get(String(action.key));
      expect(action).toEqual({
        kind: 'move',
        key: action.key,
        target: 'node-b',
        sleepFirst: was === 'running',
        restore: was,
      });
    }
    expect(await fleet.instances()).toEqual(before);
    expect((await fleet.call('GET', '/nodes/nope/drain-plan')).status).toBe(404);
  });
});
