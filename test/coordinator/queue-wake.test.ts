import { afterEach, expect, it } from 'vitest';
import { createCoordinatorApp } from '../../src/coordinator/app.ts';
import type { Principal } from '../../src/coordinator/principal.ts';
import type { Services } from '../../src/coordinator/services/index.ts';
import { submitJobSchema } from '../../src/contract/jobs.ts';
import type { Instance } from '../../src/core/model.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { Store } from '../../src/ports/store.ts';
import { node } from '../db/fixtures.ts';
import { callsModule } from '../executor/job-modules.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

const admin: Principal = { kind: 'admin', tokenName: 'test' };
const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const iso = (secs: number) => new Date(T0 + secs * 1000).toISOString();
const ref = { tenantId: 'acme', poolId: 'ci' };
const keyOf = (i: Instance) => ({ tenantId: i.tenantId, poolId: i.poolId, instanceId: i.id });

function manualClock(): Clock & { set(secs: number): void } {
  let now = T0;
  return {
    now: () => new Date(now),
    sleep: async () => {},
    set: (secs) => {
      now = T0 + secs * 1000;
    },
  };
}

const opened: Services[] = [];
afterEach(async () => {
  for (const services of opened.splice(0)) {
    services.jobs.close();
    await services.rechecks.close();
  }
});

function coordinator(store: Store, clock: Clock): Services {
  let n = 0;
  const { services } = createCoordinatorApp({
    store,
    clock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: () => `i${(n += 1)}`,
  });
  opened.push(services);
  return services;
}

/** A queue-driven worker pool (min 0, max 2): idle 30 s to warm, 90 s to sleep; 2 workers. */
async function setup(services: Services, store: Store): Promise<void> {
  await store.nodes.upsert(node('node-1'));
  await services.tenants.create(admin, { id: 'acme' });
  await services.pools.create(admin, 'acme', {
    id: 'ci',
    role: 'worker',
    vcpus: 1,
    memMib: 256,
    dataDiskMib: 64,
    pinned: false,
    critical: false,
    minRunningSecs: 0,
    minWarmSecs: 0,
    idleWarmAfterSecs: 30,
    idleSleepAfterSecs: 90,
    servicePorts: [],
  });
  await services.pools.scale(admin, 'acme', 'ci', { running: 2 });
  await services.queueWake.setScale(admin, 'acme', 'ci', { min: 0, max: 2 });
  for (const created of await store.instances.list(ref)) {
    const placed = await store.instances.update(
      keyOf(created),
      { nodeId: 'node-1' },
      created.version,
      iso(0),
    );
    await services.instances.report('node-1', keyOf(placed), { status: 'running' });
  }
}

/** The node carries out what the coordinator asks. */
async function nodeSettles(services: Services, store: Store): Promise<Instance[]> {
  const out: Instance[] = [];
  for (const now of await store.instances.list(ref)) {
    const status = now.desiredStatus === 'destroyed' ? 'stopped' : now.desiredStatus;
    out.push(await services.instances.report('node-1', keyOf(now), { status }));
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

async function submit(services: Services): Promise<string> {
  const wasm = Buffer.from(callsModule([])).toString('base64');
  const request = submitJobSchema.parse({ pool: 'ci', wasm });
  return (await services.jobs.submit(admin, 'acme', request)).job.id;
}

await describeEachDatabase('queue-driven pools in the coordinator', (db) => {
  it('idle workers sleep; a queued job wakes one sleeping worker, two wake both', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store());
    expect((await db.store().pools.get('acme', 'ci'))?.queueScale).toEqual({ min: 0, max: 2 });

    clock.set(200);
    await services.idle.pass(); // idle since creation: straight to sleep
    const slept = await nodeSettles(services, db.store());
    expect(slept.map((i) => [i.status, i.idleSlot])).toEqual([
      ['sleeping', 'running'],
      ['sleeping', 'running'],
    ]);
    // Nothing queued: nothing woken; the pool costs nothing at rest.
    expect((await services.queueWake.pass()).changed).toEqual([]);

    await submit(services);
    const one = await services.queueWake.pass();
    expect(one.changed).toEqual([
      { instance: `acme/ci/${slept[0]?.id}`, to: 'running', reason: 'queue-wake' },
    ]);
    // A second pass with the same demand wakes no one more.
    expect((await services.queueWake.pass()).changed).toEqual([]);
    await submit(services);
    expect((await services.queueWake.pass()).changed).toMatchObject([{ reason: 'queue-wake' }]);
    const woken = await nodeSettles(services, db.store());
    expect(woken.map((i) => [i.status, i.idleSlot])).toEqual([
      ['running', null],
      ['running', null],
    ]);
    const events = await db.store().audit.list({ tenantId: 'acme', limit: 20 });
    expect(events.filter((e) => e.actor === 'system:queue-wake').map((e) => e.action)).toEqual([
      'instance.queue-wake',
      'instance.queue-wake',
    ]);
  });

  it('resumes a warm worker before it wakes a sleeping one, and never above max', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store());
    await services.queueWake.setScale(admin, 'acme', 'ci', { min: 0, max: 1 });
    clock.set(40);
    await services.idle.pass(); // both warm
    const warm = await nodeSettles(services, db.store());
    const [first, second] = warm;
    if (!first || !second) throw new Error('expected two workers');
    // One of them sleeps (its own idle sleep, sooner).
    await db
      .store()
      .instances.update(keyOf(first), { desiredStatus: 'sleeping' }, first.version, iso(41));
    await nodeSettles(services, db.store());
    for (let n = 0; n < 3; n += 1) await submit(services);
    expect((await services.queueWake.pass()).changed).toEqual([
      { instance: `acme/ci/${second.id}`, to: 'running', reason: 'queue-resume' },
    ]);
  });

  it('with min 1 the idle policy leaves one worker awake', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store());
    await services.queueWake.setScale(admin, 'acme', 'ci', { min: 1, max: 2 });
    clock.set(200);
    expect((await services.idle.pass()).changed).toHaveLength(1);
    const settled = await nodeSettles(services, db.store());
    expect(settled.map((i) => i.status).sort()).toEqual(['running', 'sleeping']);
    clock.set(400);
    expect((await services.idle.pass()).changed).toEqual([]);
    expect((await services.queueWake.pass()).changed).toEqual([]);
  });

  it('refuses bad bounds and changes nothing', async () => {
    const services = coordinator(db.store(), manualClock());
    await setup(services, db.store());
    await expect(
      services.queueWake.setScale(admin, 'acme', 'ci', { min: 3, max: 2 }),
    ).rejects.toThrow(/--min \(3\) must not be more than --max \(2\)/);
    expect((await db.store().pools.get('acme', 'ci'))?.queueScale).toEqual({ min: 0, max: 2 });
  });
});
