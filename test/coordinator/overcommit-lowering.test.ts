import { expect, it, vi } from 'vitest';
import type { Services } from '../../src/coordinator/services/index.ts';
import type { Instance } from '../../src/core/model.ts';
import type { Store } from '../../src/ports/store.ts';
import { node } from '../db/fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { admin, manualClock, plainWebTenant, policyCoordinator } from './support/policy-harness.ts';

/**
 * A node over its declared capacity (a wake it admitted itself while the coordinator did not
 * answer, then reported; a capacity declared smaller since) is brought back under it: other
 * instances there are put to sleep, held in their place, with `instance.overcommit-lowered`
 * saying why, and raised back once there is room. Nothing is lowered on a node with room.
 */
const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const NODE = 'node-1';

async function world(store: Store, nodes: Record<string, number>): Promise<Services> {
  const services = policyCoordinator(store, manualClock(T0));
  for (const [id, vcpus] of Object.entries(nodes)) {
    await store.nodes.upsert(node(id, { capacity: { vcpus, memMib: 65536, diskGib: 100 } }));
  }
  return services;
}

const scale = (services: Services, tenantId: string, counts: Record<string, number>) =>
  services.pools.scale(admin, tenantId, 'web', counts);

const keyOf = (i: Instance) => ({ tenantId: i.tenantId, poolId: i.poolId, instanceId: i.id });
const path = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;

async function loadOf(store: Store, nodeId: string): Promise<number> {
  return (await store.nodes.loads({ nodeIds: [nodeId] }))[0]?.vcpus ?? 0;
}

async function lowered(store: Store, tenantId: string) {
  const events = await store.audit.list({ tenantId, limit: 200 });
  return events.filter((e) => e.action === 'instance.overcommit-lowered');
}

/** A sleeping instance of its own tenant on NODE, put there while the node had room. */
async function sleeper(services: Services, tenantId: string): Promise<Instance> {
  await plainWebTenant(services, tenantId);
  const [made] = (await scale(services, tenantId, { running: 1 })).created;
  if (!made) throw new Error('the scale made no instance');
  await scale(services, tenantId, { running: 0, sleeping: 1 });
  return made;
}

const nodeWake = { trigger: 'connect', port: 80, from: '10.0.0.9', source: 'tenant' } as const;

await describeEachDatabase('an overcommitted node brought back under its capacity', (db) => {
  it('lowers another instance when a wake the node admitted itself leaves it over, and raises it back once there is room', async () => {
    const store = db.store();
    const services = await world(store, { [NODE]: 3 });
    const woken = await sleeper(services, 'acme');
    await plainWebTenant(services, 'beta');
    const filled = (await scale(services, 'beta', { running: 3 })).created;
    expect(await loadOf(store, NODE)).toBe(3);

    const answer = await services.instances.reportWake(NODE, keyOf(woken), {
      ...nodeWake,
      admittedBy: 'node',
    });
    // The wake runs already (the node admitted it): it stays running, another is lowered.
    expect(answer.desiredStatus).toBe('running');
    expect(await loadOf(store, NODE)).toBe(3);
    const beta = await store.instances.list({ tenantId: 'beta' });
    const down = beta.filter((i) => i.desiredStatus === 'sleeping');
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ idleSlot: 'running', sleepForced: true });
    expect(down[0]?.pressureSleptAt).not.toBeNull();
    const events = await lowered(store, 'beta');
    expect(events.map((e) => e.target)).toEqual([path(down[0]!)]);
    expect(events[0]?.detail).toMatchObject({ nodeId: NODE, from: 'running', overVcpus: 1 });
    expect(String(events[0]?.detail.reason)).toMatch(/more than its capacity \(1 vCPUs over/);
    expect(await lowered(store, 'acme')).toEqual([]);
    expect(filled.map(path)).toContain(path(down[0]!));

    // Room returns (the woken one goes back to sleep): the lowered one runs again.
    await scale(services, 'acme', { running: 0, sleeping: 1 });
    const back = await store.instances.get(keyOf(down[0]!));
    expect(back).toMatchObject({
      desiredStatus: 'running',
      pressureSleptAt: null,
      idleSlot: null,
    });
    expect(back?.sleepForced ?? false).toBe(false);
    expect(await loadOf(store, NODE)).toBe(3);
  });

  it('lowers nothing when the reported wake fits', async () => {
    const store = db.store();
    const services = await world(store, { [NODE]: 3 });
    const woken = await sleeper(services, 'acme');
    await plainWebTenant(services, 'beta');
    await scale(services, 'beta', { running: 2 });
    await services.instances.reportWake(NODE, keyOf(woken), { ...nodeWake, admittedBy: 'node' });
    expect(await loadOf(store, NODE)).toBe(3);
    expect(await lowered(store, 'beta')).toEqual([]);
    expect(
      (await store.instances.list({ tenantId: 'beta' })).every(
        (i) => i.desiredStatus === 'running',
      ),
    ).toBe(true);
  });

  it('a scheduling pass lowers what a node holds beyond a capacity it declared smaller, and nothing on a node with room', async () => {
    const store = db.store();
    const services = await world(store, { [NODE]: 4, 'node-2': 8 });
    await plainWebTenant(services, 'acme');
    await scale(services, 'acme', { running: 8 });
    const before = new Map((await store.nodes.loads()).map((l) => [l.nodeId, l.vcpus] as const));
    expect(before.get(NODE)).toBeGreaterThanOrEqual(2);
    // NODE now declares 2 fewer vCPUs than it holds.
    const shrunk = (before.get(NODE) ?? 0) - 2;
    await store.nodes.upsert(
      node(NODE, { capacity: { vcpus: shrunk, memMib: 65536, diskGib: 100 } }),
    );
    // Any write that runs a pass finds it (here a new tenant's instance to place).
    await plainWebTenant(services, 'beta');
    await scale(services, 'beta', { running: 1 });
    expect(await loadOf(store, NODE)).toBe(shrunk);
    const events = await lowered(store, 'acme');
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.detail.nodeId === NODE)).toBe(true);
    const onTwo = (await store.instances.list({ nodeId: 'node-2' })).filter(
      (i) => i.desiredStatus === 'sleeping',
    );
    expect(onTwo).toEqual([]);
  });

  it('a heartbeat that declares a smaller capacity lowers what its node holds beyond it at once', async () => {
    const store = db.store();
    const services = await world(store, { [NODE]: 4 });
    await plainWebTenant(services, 'acme');
    await scale(services, 'acme', { running: 4 });
    expect(await loadOf(store, NODE)).toBe(4);
    // Nothing unplaced, nothing held: the scheduler's probe alone would find no work.
    const answer = await services.health.heartbeat(NODE, {
      capacity: { vcpus: 2, memMib: 65536, diskGib: 100 },
      usage: { vcpus: 4, memMib: 1024, instances: { running: 4 }, diskFreeMib: 1000 },
      instances: [],
    });
    expect(answer.node.capacity.vcpus).toBe(2);
    expect(await loadOf(store, NODE)).toBe(2);
    const events = await lowered(store, 'acme');
    expect(events).toHaveLength(2);
    expect(events[0]?.detail).toMatchObject({ nodeId: NODE, overVcpus: 2 });
    // A larger one lowers nothing (and the lowered wait for room, held in their place).
    await services.health.heartbeat(NODE, {
      capacity: { vcpus: 3, memMib: 65536, diskGib: 100 },
      usage: { vcpus: 2, memMib: 512, instances: { running: 2 }, diskFreeMib: 1000 },
      instances: [],
    });
    expect(await lowered(store, 'acme')).toHaveLength(2);
  });

  it('a heartbeat whose report credits less memory than the one before lowers what its node then holds beyond its capacity at once', async () => {
    const store = db.store();
    const services = policyCoordinator(store, manualClock(T0));
    await store.nodes.upsert(node(NODE, { capacity: { vcpus: 8, memMib: 1024, diskGib: 100 } }));
    await plainWebTenant(services, 'acme');
    await scale(services, 'acme', { running: 4 });
    const beat = (memMib: number, heldMemMib: number) =>
      services.health.heartbeat(NODE, {
        capacity: { vcpus: 8, memMib: 1024, diskGib: 100 },
        usage: { vcpus: 4, memMib, heldMemMib, instances: { running: 4 }, diskFreeMib: 1000 },
        instances: [],
      });
    // Its guests hold a quarter of their memory: placement counts 256 of 1,024 MiB committed.
    await beat(1024, 256);
    await scale(services, 'acme', { running: 6 });
    const onNode = async () =>
      (await store.instances.list({ nodeId: NODE })).filter((i) => i.desiredStatus === 'running');
    expect(await onNode()).toHaveLength(6);
    // The drift of idle guests (less than CREDIT_SHRINK_STEP_MIB below): its loads not read.
    const loads = vi.spyOn(store.nodes, 'loads');
    await beat(1024, 300);
    expect(loads).not.toHaveBeenCalled();
    // A credit shrunk within the capacity (768 of 1,024 MiB): read, nothing is lowered.
    await beat(1024, 512);
    expect(loads).toHaveBeenCalled();
    loads.mockRestore();
    expect(await lowered(store, 'acme')).toEqual([]);
    // Then they touch all of it: 1,536 MiB held on 1,024. Nothing unplaced, nothing held: the
    // scheduler's probe alone would find no work.
    await beat(1536, 1536);
    const events = await lowered(store, 'acme');
    expect(events).toHaveLength(2);
    expect(events[0]?.detail).toMatchObject({ nodeId: NODE, overMemMib: 512 });
    expect(await onNode()).toHaveLength(4);
  });

  it('a scheduling pass lowers a cordoned node over its capacity too, and raises nothing back there until it is uncordoned', async () => {
    const store = db.store();
    const services = await world(store, { [NODE]: 4, 'node-2': 4 });
    await plainWebTenant(services, 'acme');
    await scale(services, 'acme', { running: 8 });
    expect(await loadOf(store, NODE)).toBe(4);
    await services.nodes.setCordon(admin, NODE, 'cordon');
    // NODE now declares 2 vCPUs, and nothing tells the pass (the store written directly).
    await store.nodes.update(
      NODE,
      { capacity: { vcpus: 2, memMib: 65536, diskGib: 100 } },
      (await store.nodes.get(NODE))!.version,
    );
    // A pass run for other work finds it.
    await plainWebTenant(services, 'beta');
    await scale(services, 'beta', { running: 0, sleeping: 1 });
    expect(await loadOf(store, NODE)).toBe(2);
    expect((await lowered(store, 'acme')).map((e) => e.detail.nodeId)).toEqual([NODE, NODE]);
    // Room there again, still cordoned: nothing is raised back on it.
    await store.nodes.update(
      NODE,
      { capacity: { vcpus: 4, memMib: 65536, diskGib: 100 } },
      (await store.nodes.get(NODE))!.version,
    );
    await scale(services, 'beta', { running: 0, sleeping: 2 });
    expect(await loadOf(store, NODE)).toBe(2);
    await services.nodes.setCordon(admin, NODE, 'uncordon');
    expect(await loadOf(store, NODE)).toBe(4);
  });

  it('a wake report repeated after the instance was lowered since its admission leaves the lowering standing; one lowered before is raised', async () => {
    const store = db.store();
    const clock = manualClock(T0);
    const services = policyCoordinator(store, clock);
    await store.nodes.upsert(node(NODE, { capacity: { vcpus: 3, memMib: 65536, diskGib: 100 } }));
    const woken = await sleeper(services, 'acme');
    const other = await sleeper(services, 'gamma');
    // Both held asleep by a lowering at T0 + 10 s.
    const lowerAt = async (i: Instance, secs: number) => {
      const now = (await store.instances.get(keyOf(i)))!;
      await store.instances.update(
        keyOf(i),
        {
          desiredStatus: 'sleeping',
          pressureSleptAt: new Date(T0 + secs * 1000).toISOString(),
          idleSlot: 'running',
          sleepForced: true,
        },
        now.version,
        new Date(T0 + secs * 1000).toISOString(),
      );
    };
    await lowerAt(woken, 10);
    await lowerAt(other, 10);
    clock.set(20);
    // Admitted 15 s ago (T0 + 5 s), before the lowering: the report is a repeat, not raised.
    const stale = await services.instances.reportWake(NODE, keyOf(woken), {
      ...nodeWake,
      admittedBy: 'node',
      admittedMsAgo: 15_000,
    });
    expect(stale).toMatchObject({ desiredStatus: 'sleeping', sleepForced: true });
    expect(stale.pressureSleptAt).not.toBeNull();
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.find((e) => e.action === 'instance.wake-on-connect')?.detail).toMatchObject({
      to: 'sleeping',
      admittedBy: 'node',
      loweredSince: new Date(T0 + 10_000).toISOString(),
    });
    // Admitted 5 s ago (T0 + 15 s), after the lowering: it runs, counted running.
    const fresh = await services.instances.reportWake(NODE, keyOf(other), {
      ...nodeWake,
      admittedBy: 'node',
      admittedMsAgo: 5_000,
    });
    expect(fresh).toMatchObject({ desiredStatus: 'running', pressureSleptAt: null });
  });
});
