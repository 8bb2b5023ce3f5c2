import { afterEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  admin,
  closeCoordinators,
  coordinator,
  iso,
  keyOf,
  manualClock,
  nodeSettles,
  setup,
  submit,
} from './queue-pool-world.ts';

afterEach(closeCoordinators);

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
