import { expect, it } from 'vitest';
import type { Services } from '../../src/coordinator/services/index.ts';
import type { Instance } from '../../src/core/model.ts';
import type { Store } from '../../src/ports/store.ts';
import { node } from '../db/fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { spying, withRepos } from '../support/store-proxy.ts';
import {
  admin,
  instanceKey,
  manualClock,
  plainWebTenant,
  policyCoordinator,
} from './support/policy-harness.ts';

/**
 * Raising a placed instance (sleeping or stopped back to running or warm) is admitted only
 * when its node has room next to what it holds; otherwise it stays asleep, holding its place,
 * with an `instance.raise-waiting` event, and the scheduler raises it once room returns
 * (`instance.raise-admitted`). Sequential and parallel raises never overcommit a node.
 */
const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const VCPUS = 1;
const MEM = 256;

async function world(store: Store, nodes: Record<string, number>): Promise<Services> {
  const services = policyCoordinator(store, manualClock(T0));
  for (const [id, vcpus] of Object.entries(nodes)) {
    await store.nodes.upsert(node(id, { capacity: { vcpus, memMib: 65536, diskGib: 100 } }));
  }
  return services;
}

const tenant = (services: Services, id: string) =>
  plainWebTenant(services, id, { vcpus: VCPUS, memMib: MEM });

const holds = (i: Instance) => i.desiredStatus === 'running' || i.desiredStatus === 'warm';

/** vCPUs each node holds, counted from the instances themselves. */
async function heldVcpus(store: Store): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  for (const i of await store.instances.list()) {
    if (i.nodeId !== null && holds(i)) held.set(i.nodeId, (held.get(i.nodeId) ?? 0) + VCPUS);
  }
  return held;
}

/** Every node within its vCPUs, by the instances and by the store's sums alike. */
async function expectWithinCapacity(store: Store): Promise<Map<string, number>> {
  const held = await heldVcpus(store);
  for (const n of await store.nodes.list()) {
    expect(held.get(n.id) ?? 0).toBeLessThanOrEqual(n.capacity.vcpus);
  }
  const loads = await store.nodes.loads();
  expect(new Map(loads.map((l) => [l.nodeId, l.vcpus]))).toEqual(held);
  return held;
}

async function actions(store: Store, tenantId: string, action: string): Promise<string[]> {
  const events = await store.audit.list({ tenantId, limit: 500 });
  return events.filter((e) => e.action === action).map((e) => e.target);
}

const scale = (services: Services, tenantId: string, counts: Record<string, number>) =>
  services.pools.scale(admin, tenantId, 'web', counts);

await describeEachDatabase('raising placed instances', (db) => {
  it('raises as before when the node has room', async () => {
    const store = db.store();
    const services = await world(store, { 'node-1': 4 });
    await tenant(services, 'acme');
    await scale(services, 'acme', { running: 2 });
    await scale(services, 'acme', { running: 0, sleeping: 2 });
    expect((await heldVcpus(store)).get('node-1') ?? 0).toBe(0);
    const { changed } = await scale(services, 'acme', { running: 2, sleeping: 0 });
    expect(changed.map((i) => i.desiredStatus)).toEqual(['running', 'running']);
    expect(changed.every((i) => i.pressureSleptAt === null && i.idleSlot === null)).toBe(true);
    expect(await actions(store, 'acme', 'instance.raise-waiting')).toEqual([]);
    expect((await expectWithinCapacity(store)).get('node-1')).toBe(2);
  });

  it("reads a scale's raises' room in one read, with the pools and the lock of its write", async () => {
    const calls: string[] = [];
    let recording = false;
    const spy = { before: (method: string) => recording && calls.push(method) };
    const spied = withRepos(
      db.store(),
      (repos) => ({
        pools: spying(repos.pools, { before: (m) => spy.before(`pools.${m}`) }),
        nodes: spying(repos.nodes, { before: (m) => spy.before(`nodes.${m}`) }),
        locks: spying(repos.locks, { before: (m) => spy.before(`locks.${m}`) }),
      }),
      'transactions',
    );
    const services = await world(spied, { 'node-1': 2 });
    await tenant(services, 'acme');
    await scale(services, 'acme', { running: 2 });
    await scale(services, 'acme', { running: 0, sleeping: 2 });
    recording = true;
    const { changed } = await scale(services, 'acme', { running: 2, sleeping: 0 });
    recording = false;
    expect(changed.map((i) => i.desiredStatus)).toEqual(['running', 'running']);
    // The tenant's pools are read once (with the members, under its lock), the nodes' room once.
    expect(calls.filter((c) => c.startsWith('pools.') && c !== 'pools.updateWithMembers')).toEqual([
      'pools.lockedWithMembers',
    ]);
    expect(calls.filter((c) => c.startsWith('nodes.'))).toEqual(['nodes.withLoads']);
    // The scheduler's lock was tried in the write (updateWithMembers), not on its own.
    expect(calls.filter((c) => c.startsWith('locks.'))).toEqual([]);
    // And the room is still weighed: a full node holds the next raise.
    await tenant(services, 'beta');
    await scale(services, 'acme', { running: 0, sleeping: 2 });
    await scale(services, 'beta', { running: 2 });
    const held = await scale(services, 'acme', { running: 2, sleeping: 0 });
    expect(held.changed.map((i) => i.desiredStatus)).toEqual(['sleeping', 'sleeping']);
    expect((await expectWithinCapacity(db.store())).get('node-1')).toBe(2);
  });

  it('holds a raise without room asleep and raises it once room returns', async () => {
    const store = db.store();
    const services = await world(store, { 'node-1': 2 });
    await tenant(services, 'acme');
    await tenant(services, 'beta');
    await scale(services, 'acme', { running: 2 });
    await scale(services, 'acme', { running: 0, sleeping: 2 });
    await scale(services, 'beta', { running: 2 });
    expect((await expectWithinCapacity(store)).get('node-1')).toBe(2);

    // The node is full: acme's raise waits, asleep, holding its running places.
    const { changed, created } = await scale(services, 'acme', { running: 2, sleeping: 0 });
    expect(created).toEqual([]);
    expect(changed).toHaveLength(2);
    for (const i of changed) {
      expect(i).toMatchObject({ desiredStatus: 'sleeping', idleSlot: 'running' });
      expect(i.pressureSleptAt).not.toBeNull();
    }
    expect((await expectWithinCapacity(store)).get('node-1')).toBe(2);
    const waiting = await store.audit.list({ tenantId: 'acme', limit: 50 });
    const event = waiting.find((e) => e.action === 'instance.raise-waiting');
    expect(event?.detail).toMatchObject({ nodeId: 'node-1', to: 'running', stays: 'sleeping' });
    expect(String(event?.detail['reason'])).toMatch(/node 'node-1' has no room .* 0 vCPU/);

    // Scaling again to the same counts wakes nothing else in their place, nor creates any.
    const again = await scale(services, 'acme', { running: 2 });
    expect(again.created).toEqual([]);
    expect(again.changed).toEqual([]);

    // One of beta's sleeps: one of acme's is raised, the other still waits.
    await scale(services, 'beta', { running: 1, sleeping: 1 });
    const acme = await store.instances.list({ tenantId: 'acme' });
    expect(acme.map((i) => i.desiredStatus).sort()).toEqual(['running', 'sleeping']);
    expect((await expectWithinCapacity(store)).get('node-1')).toBe(2);
    expect(await actions(store, 'acme', 'instance.raise-admitted')).toHaveLength(1);

    await scale(services, 'beta', { running: 0, sleeping: 2 });
    const raised = await store.instances.list({ tenantId: 'acme' });
    expect(raised.map((i) => i.desiredStatus)).toEqual(['running', 'running']);
    expect(raised.every((i) => i.pressureSleptAt === null && i.idleSlot === null)).toBe(true);
    expect((await expectWithinCapacity(store)).get('node-1')).toBe(2);
    expect(await store.instances.anyPressureHeld()).toBe(false);
  });

  it('holds an instance action and a wake on connect without room, and a start from stopped', async () => {
    const store = db.store();
    const services = await world(store, { 'node-1': 2 });
    await tenant(services, 'acme');
    await tenant(services, 'beta');
    const { created } = await scale(services, 'acme', { running: 2 });
    const [first, second] = created;
    if (!first || !second) throw new Error('the scale made no instances');
    await services.instances.act(admin, instanceKey(first), { action: 'sleep' });
    await services.instances.act(admin, instanceKey(second), { action: 'stop' });
    await scale(services, 'beta', { running: 2 });

    const woken = await services.instances.act(admin, instanceKey(first), { action: 'wake' });
    expect(woken).toMatchObject({ desiredStatus: 'sleeping', idleSlot: 'running' });
    const started = await services.instances.act(admin, instanceKey(second), { action: 'start' });
    expect(started).toMatchObject({ desiredStatus: 'stopped', idleSlot: 'running' });
    const wake = { trigger: 'connect', port: 8080, from: '10.240.0.9', source: 'tenant' } as const;
    const reported = await services.instances.reportWake('node-1', instanceKey(first), wake);
    expect(reported).toMatchObject({ desiredStatus: 'sleeping', idleSlot: 'running' });
    expect((await expectWithinCapacity(store)).get('node-1')).toBe(2);
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.find((e) => e.action === 'instance.wake-on-connect')?.detail).toMatchObject({
      from: 'sleeping',
      to: 'sleeping',
    });
    expect(await actions(store, 'acme', 'instance.raise-waiting')).toHaveLength(3);

    // Room for both: the stopped one starts, the sleeping one wakes, as they were asked.
    await scale(services, 'beta', { running: 0, sleeping: 2 });
    const after = await store.instances.list({ tenantId: 'acme' });
    expect(after.map((i) => i.desiredStatus)).toEqual(['running', 'running']);
    expect((await expectWithinCapacity(store)).get('node-1')).toBe(2);
  });

  it('never overcommits a node under parallel raises and placements from two replicas', async () => {
    const store = db.store();
    // Two nodes of 3 vCPUs; six tenants' instances placed there, then put to sleep.
    const one = await world(store, { 'node-1': 3, 'node-2': 3 });
    const two = policyCoordinator(store, manualClock(T0));
    const tenants = Array.from({ length: 6 }, (_, i) => `t${i}`);
    for (const t of tenants) {
      await tenant(one, t);
      await scale(one, t, { running: 1 });
    }
    expect(await heldVcpus(store)).toEqual(
      new Map([
        ['node-1', 3],
        ['node-2', 3],
      ]),
    );
    for (const t of tenants) await scale(one, t, { running: 0, sleeping: 1 });
    // A filler takes 4 of the 6 vCPUs: room for 2 more, which raises and new instances share.
    await tenant(one, 'filler');
    await scale(one, 'filler', { running: 4 });
    const fresh = ['n0', 'n1'];
    for (const t of fresh) await tenant(one, t);

    await Promise.all([
      ...tenants.map((t, i) => scale(i % 2 === 0 ? one : two, t, { running: 1, sleeping: 0 })),
      ...fresh.map((t, i) => scale(i % 2 === 0 ? two : one, t, { running: 1 })),
    ]);
    await one.scheduler.schedule();
    const held = await expectWithinCapacity(store);
    expect([...held.values()].reduce((a, b) => a + b, 0)).toBe(6);
    const all = await store.instances.list();
    const raised = all.filter((i) => tenants.includes(i.tenantId) && i.desiredStatus === 'running');
    const placed = all.filter((i) => fresh.includes(i.tenantId) && i.nodeId !== null);
    expect(raised.length + placed.length).toBe(2);
    const waiting = all.filter((i) => i.pressureSleptAt !== null);
    expect(waiting).toHaveLength(tenants.length - raised.length);
    expect(waiting.every((i) => i.desiredStatus === 'sleeping' && i.idleSlot === 'running')).toBe(
      true,
    );

    // The filler leaves: its 4 vCPUs go to the waiting raises and the new instances (8 asking
    // for 6), still within each node; what is left keeps waiting.
    await scale(one, 'filler', { running: 0 });
    await two.scheduler.schedule();
    const after = await expectWithinCapacity(store);
    expect([...after.values()].reduce((a, b) => a + b, 0)).toBe(6);
    const now = await store.instances.list();
    const up = now.filter((i) => tenants.includes(i.tenantId) && i.desiredStatus === 'running');
    const newUp = now.filter((i) => fresh.includes(i.tenantId) && i.nodeId !== null);
    expect(up.length + newUp.length).toBe(6);
    expect(up.length).toBeGreaterThan(raised.length);
    const still = now.filter((i) => i.pressureSleptAt !== null);
    expect(still).toHaveLength(tenants.length - up.length);
  });
});
