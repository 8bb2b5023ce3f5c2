import { expect, it } from 'vitest';
import type { Services } from '../../src/coordinator/services/index.ts';
import { IDLE_MIN_AWAKE_SECS } from '../../src/core/idle-policy.ts';
import type { Instance } from '../../src/core/model.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  admin,
  idleWorkerPool,
  instanceKey,
  manualClock as policyManualClock,
  policyCoordinator,
} from './support/policy-harness.ts';

const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const iso = (secs: number) => new Date(T0 + secs * 1000).toISOString();
const manualClock = () => policyManualClock(T0);
const coordinator = policyCoordinator;

const ref = { tenantId: 'acme', poolId: 'web' };
const keyOf = instanceKey;

/** A pool that goes warm after 30 s idle and to sleep after 90 s, with one running instance. */
async function setup(
  services: Services,
  store: Store,
  servicePorts: number[] = [],
): Promise<Instance> {
  await idleWorkerPool(services, store, 'web', servicePorts);

  await services.pools.scale(admin, 'acme', 'web', { running: 1 });
  const [created] = await store.instances.list(ref);
  if (!created) throw new Error('expected an instance');
  const placed = await store.instances.update(
    keyOf(created),
    { nodeId: 'node-1' },
    created.version,
    iso(0),
  );
  return services.instances.report('node-1', keyOf(placed), { status: 'running' });
}

/** The node carries out what the coordinator asks: the observed status follows the desired. */
async function nodeSettles(services: Services, store: Store): Promise<Instance> {
  const [now] = await store.instances.list(ref);
  if (!now) throw new Error('expected an instance');
  const status = now.desiredStatus === 'stopped' ? 'stopped' : now.desiredStatus;
  if (status === 'destroyed') throw new Error('not here');
  return services.instances.report('node-1', keyOf(now), { status });
}

await describeEachDatabase('idle policy in the coordinator', (db) => {
  it('sends an idle instance warm, then to sleep, by itself, and keeps its slot', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    const first = await setup(services, db.store());
    await db
      .store()
      .instances.update(keyOf(first), { lastActiveAt: iso(10) }, first.version, iso(10));

    clock.set(39);
    expect((await services.idle.pass()).changed).toEqual([]);
    clock.set(40);
    const warm = await services.idle.pass();
    expect(warm.changed).toEqual([
      { instance: `acme/web/${first.id}`, to: 'warm', reason: 'idle-warm' },
    ]);
    const lowered = await nodeSettles(services, db.store());
    expect(lowered).toMatchObject({ status: 'warm', desiredStatus: 'warm', idleSlot: 'running' });

    // A scale that keeps the pool as it is neither wakes it nor starts another in its place.
    const again = await services.pools.scale(admin, 'acme', 'web', { running: 1 });
    expect(again.created).toEqual([]);
    expect(again.changed).toEqual([]);

    clock.set(99);
    expect((await services.idle.pass()).changed).toEqual([]);
    clock.set(100);
    expect((await services.idle.pass()).changed).toMatchObject([
      { to: 'sleeping', reason: 'idle-sleep' },
    ]);
    expect(await nodeSettles(services, db.store())).toMatchObject({
      status: 'sleeping',
      idleSlot: 'running',
    });
    const events = await db.store().audit.list({ tenantId: 'acme', limit: 10 });
    const idle = events.filter((e) => e.action.startsWith('instance.idle'));
    expect(idle.map((e) => [e.action, e.actor])).toEqual([
      ['instance.idle-sleep', 'system:idle-policy'],
      ['instance.idle-warm', 'system:idle-policy'],
    ]);
  });

  it('keeps an idle-slept instance asleep when a scale moves it to a lower slot above it, and lowers it to one below', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    const first = await setup(services, db.store());
    clock.set(40);
    await services.idle.pass();
    await nodeSettles(services, db.store());
    clock.set(100);
    await services.idle.pass();
    expect(await nodeSettles(services, db.store())).toMatchObject({
      status: 'sleeping',
      idleSlot: 'running',
    });

    // Running 1 -> warm 1: its slot is now warm, still above where it sleeps. It stays asleep
    // (nothing wakes it into warm) and stands in the warm slot; nothing is created.
    const toWarm = await services.pools.scale(admin, 'acme', 'web', { running: 0, warm: 1 });
    expect(toWarm.created).toEqual([]);
    const [held] = await db.store().instances.list(ref);
    expect(held).toMatchObject({ id: first.id, desiredStatus: 'sleeping', idleSlot: 'warm' });
    // A scale that keeps the counts changes nothing more.
    const same = await services.pools.scale(admin, 'acme', 'web', { running: 0, warm: 1 });
    expect(same.changed).toEqual([]);

    // Warm 1 -> sleeping 1: its slot is where it is; the marker goes.
    await services.pools.scale(admin, 'acme', 'web', { warm: 0, sleeping: 1 });
    const [slept] = await db.store().instances.list(ref);
    expect(slept).toMatchObject({ desiredStatus: 'sleeping', idleSlot: null });

    // Back to running 1: a plain instance again, woken into its slot.
    await services.pools.scale(admin, 'acme', 'web', { running: 1, sleeping: 0 });
    const [woken] = await db.store().instances.list(ref);
    expect(woken).toMatchObject({ desiredStatus: 'running', idleSlot: null });
  });

  it('keeps a woken instance awake for its window, and a busy guest in its slot', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    const first = await setup(services, db.store());
    clock.set(200);
    await services.idle.pass(); // idle since creation, past both steps: straight to sleep
    const slept = await nodeSettles(services, db.store());
    expect(slept).toMatchObject({ status: 'sleeping', idleSlot: 'running' });

    clock.set(300);
    await services.instances.act(admin, keyOf(first), { action: 'wake' });
    const woken = await nodeSettles(services, db.store());
    expect(woken).toMatchObject({ status: 'running', desiredStatus: 'running', idleSlot: null });
    // Long idle before the wake counts for nothing: the wake starts the clock again.
    clock.set(300 + IDLE_MIN_AWAKE_SECS + 10);
    expect((await services.idle.pass()).changed).toEqual([]);
    clock.set(300 + 90);
    expect((await services.idle.pass()).changed).toMatchObject([{ to: 'sleeping' }]);

    // The node refuses: the guest is busy past the drain deadline, it keeps running.
    const [asked] = await db.store().instances.list(ref);
    if (!asked) throw new Error('expected an instance');
    await services.instances.report('node-1', keyOf(asked), {
      status: 'running',
      failureReason: 'still busy after a 5000 ms drain',
    });
    clock.set(391);
    expect((await services.idle.pass()).changed).toMatchObject([
      { to: 'running', reason: 'idle-busy' },
    ]);
    const [back] = await db.store().instances.list(ref);
    expect(back).toMatchObject({
      desiredStatus: 'running',
      idleSlot: null,
      lastActiveAt: iso(391),
    });
    // Not asked again before a whole idle period after the refusal.
    clock.set(391 + 29);
    expect((await services.idle.pass()).changed).toEqual([]);
    clock.set(391 + 30);
    expect((await services.idle.pass()).changed).toMatchObject([{ to: 'warm' }]);
  });

  it('never lowers an instance of a pool with service ports while no trap is armed', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), [8080]);
    clock.set(10_000);
    expect(await services.idle.pass()).toEqual({ changed: [] });
    const [still] = await db.store().instances.list(ref);
    expect(still).toMatchObject({ desiredStatus: 'running', idleSlot: null });
  });

  it('lowers one on a node that wakes on connect; a wake report raises it, audited', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    const first = await setup(services, db.store(), [8080]);
    const beat = (wakeOnConnect: boolean) =>
      services.health.heartbeat('node-1', {
        capacity: { vcpus: 8, memMib: 16_384, diskGib: 100 },
        usage: {
          vcpus: 1,
          memMib: 256,
          instances: { running: 1 },
          diskFreeMib: 1_000,
          wakeOnConnect,
        },
        instances: [],
      });
    await beat(false);
    clock.set(200);
    expect((await services.idle.pass()).changed).toEqual([]);
    await beat(true);
    expect((await services.idle.pass()).changed).toMatchObject([{ to: 'sleeping' }]);
    expect(await nodeSettles(services, db.store())).toMatchObject({ status: 'sleeping' });

    // Another node cannot say it woke it.
    const wake = { trigger: 'connect', port: 8080, from: '10.240.0.9', source: 'tenant' } as const;
    await expect(services.instances.reportWake('node-2', keyOf(first), wake)).rejects.toThrow(
      /placed on node-1/,
    );
    clock.set(250);
    const raised = await services.instances.reportWake('node-1', keyOf(first), wake);
    expect(raised).toMatchObject({
      desiredStatus: 'running',
      idleSlot: null,
      lastActiveAt: iso(250),
    });
    await nodeSettles(services, db.store());
    // The wake restarts the idle clock: nothing is lowered before a whole idle period.
    clock.set(250 + 29);
    expect((await services.idle.pass()).changed).toEqual([]);
    clock.set(250 + 30);
    expect((await services.idle.pass()).changed).toMatchObject([{ to: 'warm' }]);
    const events = await db.store().audit.list({ tenantId: 'acme', limit: 10 });
    const woke = events.find((e) => e.action === 'instance.wake-on-connect');
    expect(woke).toMatchObject({
      actor: 'node:node-1',
      target: `acme/web/${first.id}`,
      detail: { trigger: 'connect', port: 8080, client: '10.240.0.9', source: 'tenant' },
    });
    expect(woke?.detail).toMatchObject({ from: 'sleeping', to: 'running' });
  });

  it('refuses a sleep step not after the warm step, and bad ports, changing nothing', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store());
    const before = await db.store().pools.get('acme', 'web');
    await expect(
      services.pools.update(admin, 'acme', 'web', { idleSleepAfterSecs: 20 }),
    ).rejects.toThrow(/longer than idleWarmAfterSecs/);
    expect(await db.store().pools.get('acme', 'web')).toEqual(before);
    const updated = await services.pools.update(admin, 'acme', 'web', {
      idleWarmAfterSecs: 0,
      servicePorts: [80, 443],
    });
    expect(updated).toMatchObject({ idleWarmAfterSecs: 0, idleSleepAfterSecs: 90 });
    expect(updated.servicePorts).toEqual([80, 443]);
  });
});
