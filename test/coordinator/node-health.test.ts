import { expect, it } from 'vitest';
import { NodeHealthService } from '../../src/coordinator/services/node-health-service.ts';
import { fenceMarginMs, leaseFor } from '../../src/core/node-lease.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { errorCode } from './api-client-harness.ts';
import {
  fleetOver,
  LOST_AFTER_MS,
  START,
  type Fleet,
  type InstanceJson,
} from './node-health-harness.ts';

type Json = Record<string, unknown>;
const iso = (ms: number) => new Date(ms).toISOString();
const byId = (list: InstanceJson[]) => new Map(list.map((i) => [i.id, i]));

async function tenantWithPools(
  fleet: Fleet,
  pools: Array<{ id: string; vcpus: number; critical?: boolean; pinned?: boolean }>,
) {
  await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
  for (const p of pools) {
    await fleet.ok('POST', '/tenants/acme/pools', {
      flake: '.',
      profile: 'minimal',
      memMib: p.vcpus * 512,
      ...p,
    });
  }
}

/** Puts each instance's observed status where its desired status says, as its agent would. */
async function observeDesired(fleet: Fleet): Promise<void> {
  for (const i of await fleet.instances()) await fleet.report(i, i.desiredStatus);
}

/** node-a falls silent; node-b keeps its heartbeats; the timeout passes. */
async function loseNodeA(fleet: Fleet, nodeBVcpus: number): Promise<void> {
  fleet.clock.advance(LOST_AFTER_MS / 2);
  expect((await fleet.heartbeat('node-b', nodeBVcpus)).status).toBe(200);
  fleet.clock.advance(LOST_AFTER_MS / 2 + 1);
}

await describeEachDatabase('node heartbeat and loss', ({ store }) => {
  it("records the heartbeat: capacity, usage and the node's own instances' activity", async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 4);
    await tenantWithPools(fleet, [{ id: 'web', vcpus: 1 }]);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 2 });
    await fleet.registerNode('node-b', 4);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 3 });
    const placed = await fleet.instances();
    const onA = placed.filter((i) => i.nodeId === 'node-a');
    const onB = placed.find((i) => i.nodeId === 'node-b') as InstanceJson;
    expect(onA).toHaveLength(2);
    expect(onB).toBeDefined();
    const [first, second] = onA as [InstanceJson, InstanceJson];
    fleet.clock.advance(5_000);
    const sample = (i: InstanceJson, lastActiveAt?: string) => ({
      tenant: i.tenantId,
      pool: i.poolId,
      instance: i.id,
      ...(lastActiveAt ? { lastActiveAt } : {}),
    });
    const usage = { vcpus: 2, memMib: 1024, instances: { running: 2 }, diskFreeMib: 777 };
    const beat = await fleet.call('POST', '/nodes/node-a/heartbeat', {
      capacity: { vcpus: 4, memMib: 4096, diskGib: 50 },
      usage,
      instances: [
        sample(first, iso(START + 3_000)),
        // An agent clock ahead of ours is brought back to our now.
        sample(second, iso(START + 60_000)),
        // Not this node's: ignored.
        sample(onB, iso(START + 1_000)),
        { tenant: 'acme', pool: 'web', instance: 'nope', lastActiveAt: iso(START) },
      ],
    });
    expect(beat.status).toBe(200);
    expect(beat.body).toMatchObject({
      recovered: false,
      activityUpdated: 2,
      node: { id: 'node-a', status: 'ready', lastHeartbeat: iso(START + 5_000), usage },
    });
    const after = byId(await fleet.instances());
    expect(after.get(first.id)?.lastActiveAt).toBe(iso(START + 3_000));
    expect(after.get(second.id)?.lastActiveAt).toBe(iso(START + 5_000));
    expect(after.get(onB.id)?.lastActiveAt).toBeNull();
    // An older sample never moves the time back.
    const older = await fleet.heartbeat('node-a', 4, [sample(first, iso(START + 1_000))]);
    expect(older.body).toMatchObject({ activityUpdated: 0 });
    expect(await fleet.ok('GET', '/nodes/node-a')).toMatchObject({
      lastHeartbeat: iso(START + 5_000),
      usage: { diskFreeMib: 1000 },
    });
  });

  it('refuses heartbeats from tenants, anonymous callers, for unknown nodes and with bad bodies', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 4);
    await tenantWithPools(fleet, []);
    const issued = (await fleet.ok('POST', '/tenants/acme/tokens', { name: 't' })) as {
      token: string;
    };
    const body = {
      capacity: fleet.capacity(4),
      usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1 },
      instances: [],
    };
    const tenant = await fleet.call('POST', '/nodes/node-a/heartbeat', body, issued.token);
    expect([tenant.status, errorCode(tenant)]).toEqual([403, 'permission_denied']);
    const anonymous = await fleet.call('POST', '/nodes/node-a/heartbeat', body, null);
    expect(anonymous.status).toBe(401);
    const unknown = await fleet.call('POST', '/nodes/node-z/heartbeat', body);
    expect([unknown.status, errorCode(unknown)]).toEqual([404, 'not_found']);
    const extra = await fleet.call('POST', '/nodes/node-a/heartbeat', { ...body, cpu: 1 });
    expect([extra.status, errorCode(extra)]).toEqual([400, 'invalid_argument']);
    const badStatus = await fleet.call('POST', '/nodes/node-a/heartbeat', {
      ...body,
      usage: { ...body.usage, instances: { dancing: 1 } },
    });
    expect(badStatus.status).toBe(400);
    expect(((await fleet.ok('GET', '/nodes/node-a')) as Json).usage).toBeNull();
  });

  it('declares a silent node lost after the timeout and re-places its instances with their identity', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 8);
    await tenantWithPools(fleet, [{ id: 'web', vcpus: 1 }]);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1, warm: 1, sleeping: 1 });
    await observeDesired(fleet);
    const before = await fleet.instances();
    expect(before.every((i) => i.nodeId === 'node-a')).toBe(true);
    await fleet.registerNode('node-b', 8);
    const since = new Date(START);

    fleet.clock.advance(LOST_AFTER_MS);
    expect(await fleet.services.health.detectLost(since)).toEqual([]);
    fleet.clock.advance(-LOST_AFTER_MS);
    await loseNodeA(fleet, 8);
    const [loss] = await fleet.services.health.detectLost(since);
    expect(loss).toMatchObject({ nodeId: 'node-a', waiting: [], forgotten: [] });
    expect(loss?.moved).toHaveLength(3);
    expect(await fleet.services.health.detectLost(since)).toEqual([]);

    expect(((await fleet.ok('GET', '/nodes/node-a')) as Json).status).toBe('lost');
    const moved = byId(await fleet.instances());
    for (const old of before) {
      const now = moved.get(old.id);
      expect(now).toMatchObject({
        ip: old.ip,
        mac: old.mac,
        nodeId: 'node-b',
        status: 'created',
        desiredStatus: old.desiredStatus,
        statusSince: iso(START + LOST_AFTER_MS + 1),
        failureReason: `rescheduled from lost node node-a; its ${old.status} state (${
          old.status === 'sleeping' ? 'snapshot' : 'RAM'
        } and data disk) was on that node`,
      });
    }
    // The documents follow: node-b now names all three, node-a none.
    expect((await fleet.documentIds('node-b')).sort()).toEqual(before.map((i) => i.id).sort());
    expect(await fleet.documentIds('node-a')).toEqual([]);
    const events = (await fleet.ok('GET', '/events?last=20')) as Json[];
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['node.lost', 'instance.reschedule']),
    );
    expect(events.find((e) => e.action === 'node.lost')).toMatchObject({
      actor: 'coordinator',
      target: 'node-a',
      detail: { moved: 3, waiting: 0, forgotten: 0 },
    });
  });

  it('grants a lease with every heartbeat and moves nothing until lease and margin have passed', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 8);
    await tenantWithPools(fleet, [{ id: 'web', vcpus: 1 }]);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    await observeDesired(fleet);
    await fleet.registerNode('node-b', 8);
    const since = new Date(START);
    const beat = await fleet.heartbeat('node-a', 8);
    expect(beat.body).toMatchObject({ leaseMs: leaseFor(LOST_AFTER_MS) });
    const leaseMs = (beat.body as { leaseMs: number }).leaseMs;
    expect(leaseMs + fenceMarginMs(LOST_AFTER_MS)).toBeLessThanOrEqual(LOST_AFTER_MS);
    const before = (beat.body as { desiredGeneration: number }).desiredGeneration;

    // node-b keeps beating; node-a's lease runs out, and the margin after it too.
    fleet.clock.advance(leaseMs);
    expect((await fleet.heartbeat('node-b', 8)).status).toBe(200);
    fleet.clock.advance(fenceMarginMs(LOST_AFTER_MS));
    expect(await fleet.services.health.detectLost(since)).toEqual([]);
    expect((await fleet.instances())[0]?.nodeId).toBe('node-a');
    fleet.clock.advance(1);
    expect((await fleet.services.health.detectLost(since))[0]?.moved).toHaveLength(1);

    // Back, node-a hears the generation of a document without the moved instance: its agent
    // brings nothing up before it holds that one.
    const back = await fleet.heartbeat('node-a', 8);
    expect(back.body).toMatchObject({ recovered: true, leaseMs });
    const after = (back.body as { desiredGeneration: number }).desiredGeneration;
    expect(after).toBeGreaterThan(before);
    const issued = await fleet.services.desired.issue('node-a');
    expect(issued.generation).toBe(after);
    expect(await fleet.documentIds('node-a')).toEqual([]);
  });

  it('places what a lost node ran on the next check when placement failed after the loss', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 8);
    await tenantWithPools(fleet, [{ id: 'web', vcpus: 1 }]);
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    await fleet.registerNode('node-b', 8);
    let schedules = 0;
    const health = new NodeHealthService(
      {
        store: store(),
        clock: fleet.clock,
        randomSuffix: () => 'x',
        clusterCidr: '10.240.0.0/12',
        nodeLostAfterMs: LOST_AFTER_MS,
      },
      {
        place: async () => {
          schedules += 1;
          if (schedules === 1) throw new Error('store hiccup');
          await fleet.services.scheduler.schedule();
        },
      },
    );
    await loseNodeA(fleet, 8);
    await expect(health.detectLost(new Date(START))).rejects.toThrow('store hiccup');
    expect((await fleet.instances())[0]).toMatchObject({ nodeId: null, status: 'created' });
    // node-a is lost now, so nothing is overdue; the placement owed is still made.
    expect(await health.detectLost(new Date(START))).toEqual([]);
    expect((await fleet.instances())[0]?.nodeId).toBe('node-b');
    await health.detectLost(new Date(START));
    expect(schedules).toBe(2);
  });

  it('leaves pinned instances failed on the lost node, places critical ones first, and recovers the node', async () => {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 8);
    await tenantWithPools(fleet, [
      { id: 'api', vcpus: 2 },
      { id: 'edge', vcpus: 2, critical: true },
      { id: 'db', vcpus: 1, pinned: true },
      { id: 'old', vcpus: 1 },
    ]);
    for (const pool of ['api', 'edge', 'db', 'old']) {
      await fleet.ok('POST', `/tenants/acme/pools/${pool}/scale`, { running: 1 });
    }
    await observeDesired(fleet);
    const [doomed] = (await fleet.instances('?pool=old')) as [InstanceJson];
    await fleet.ok('POST', `/tenants/acme/pools/old/instances/${doomed.id}/actions`, {
      action: 'destroy',
    });
    // Room for one 2-vCPU instance elsewhere: the critical pool's.
    await fleet.registerNode('node-b', 2);
    await loseNodeA(fleet, 2);
    const [loss] = await fleet.services.health.detectLost(new Date(START));
    expect(loss).toMatchObject({ forgotten: [`acme/old/${doomed.id}`] });
    const after = new Map((await fleet.instances()).map((i) => [i.poolId, i]));
    expect(after.get('edge')).toMatchObject({ nodeId: 'node-b', status: 'created' });
    expect(after.get('api')).toMatchObject({
      nodeId: null,
      status: 'created',
      failureReason: expect.stringMatching(/^rescheduled from lost node node-a/),
    });
    expect(after.get('db')).toMatchObject({
      nodeId: 'node-a',
      status: 'failed',
      failureReason: 'node node-a lost; pinned pool waits for its node',
    });
    expect(after.has('old')).toBe(false);

    // node-a comes back: ready again, and the pending instance lands on it.
    const back = await fleet.heartbeat('node-a', 8);
    expect(back.body).toMatchObject({ recovered: true, node: { status: 'ready' } });
    const events = (await fleet.ok('GET', '/events?last=5')) as Json[];
    expect(events.map((e) => e.action)).toContain('node.recovered');
    const placed = new Map((await fleet.instances()).map((i) => [i.poolId, i]));
    expect(placed.get('api')?.nodeId).toBe('node-a');
    expect(placed.get('db')).toMatchObject({ nodeId: 'node-a', status: 'failed' });
    // Its agent reports the pinned VM still running: the failure is over.
    await fleet.report(placed.get('db') as InstanceJson, 'running');
    expect((await fleet.instances('?pool=db'))[0]).toMatchObject({
      status: 'running',
      failureReason: null,
    });
    expect((await fleet.heartbeat('node-a', 8)).body).toMatchObject({ recovered: false });
  });
});
