import { afterEach, expect, it } from 'vitest';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  admin,
  closeCoordinators,
  coordinator,
  desiredStatuses,
  manualClock,
  nodeSettles,
  placeAll,
  ref,
  setup,
  submit,
} from './queue-pool-world.ts';

afterEach(async () => {
  await closeCoordinators();
});

/** The shrink bound (QUEUE_SHRINK_AFTER_MS) in seconds. */
const BOUND = 600;

async function counts(store: Store) {
  const pool = await store.pools.get('acme', 'ci');
  return { ...pool?.counts, added: pool?.queueAdded ?? 0 };
}

async function shrinkEvents(store: Store): Promise<unknown[]> {
  const events = await store.audit.list({ tenantId: 'acme', limit: 100 });
  return events.filter((e) => e.action === 'pool.queue-shrink').map((e) => e.detail);
}

await describeEachDatabase('queue-driven pools: the workers the queue added go again', (db) => {
  it('after the queue stays empty for the bound, the pool goes back to its own count', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 1, max: 3 });
    const jobs: string[] = [];
    for (let n = 0; n < 3; n += 1) jobs.push(await submit(services));
    await services.queueWake.pass();
    await placeAll(services, db.store());
    expect(await counts(db.store())).toMatchObject({ running: 3, added: 2 });

    for (const id of jobs) await services.jobs.cancel(admin, 'acme', id);
    clock.set(100);
    // The first pass sees the queue empty: nothing goes before the bound.
    expect((await services.queueWake.pass()).changed).toEqual([]);
    clock.set(100 + BOUND - 1);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    expect(await counts(db.store())).toMatchObject({ running: 3, added: 2 });

    clock.set(100 + BOUND);
    const shrunk = await services.queueWake.pass();
    expect(shrunk.changed.map((c) => [c.to, c.reason])).toEqual([
      ['stopped', 'queue-shrink'],
      ['stopped', 'queue-shrink'],
    ]);
    expect(await counts(db.store())).toMatchObject({ running: 1, added: 0 });
    expect((await desiredStatuses(db.store())).sort()).toEqual(['running', 'stopped', 'stopped']);
    expect(await shrinkEvents(db.store())).toHaveLength(1);
    // Nothing more to take: the operator's one worker stays.
    clock.set(100 + 3 * BOUND);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    expect(await counts(db.store())).toMatchObject({ running: 1, added: 0 });

    // A new burst grows it again (one worker is awake), reusing the stopped workers before
    // creating any.
    for (let n = 0; n < 3; n += 1) await submit(services);
    const regrown = await services.queueWake.pass();
    expect(regrown.changed.map((c) => c.reason)).toEqual(['queue-grow', 'queue-grow']);
    expect(await db.store().instances.list(ref)).toHaveLength(3);
    expect(await counts(db.store())).toMatchObject({ running: 3, added: 2 });
  });

  it('a job seen in between restarts the bound', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 0, max: 2 });
    const first = await submit(services);
    await services.queueWake.pass();
    await services.jobs.cancel(admin, 'acme', first);
    clock.set(10);
    await services.queueWake.pass();
    clock.set(BOUND - 10);
    const second = await submit(services);
    await services.queueWake.pass();
    await services.jobs.cancel(admin, 'acme', second);
    clock.set(BOUND + 20);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    expect(await counts(db.store())).toMatchObject({ running: 1, added: 1 });
    clock.set(2 * BOUND + 20);
    expect((await services.queueWake.pass()).changed).toEqual([
      { instance: expect.stringMatching(/^acme\/ci\//), to: 'stopped', reason: 'queue-shrink' },
    ]);
    expect(await counts(db.store())).toMatchObject({ running: 0, added: 0 });
  });

  it('never removes while a worker holds a lease, and only down to min', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 0, max: 3 });
    await services.queueWake.setScale(admin, 'acme', 'ci', { min: 1, max: 3 });
    for (let n = 0; n < 3; n += 1) await submit(services);
    await services.queueWake.pass();
    await placeAll(services, db.store());
    await nodeSettles(services, db.store());
    expect(await counts(db.store())).toMatchObject({ running: 3, added: 3 });
    const [worker] = await db.store().instances.list(ref);
    const claimed = await services.jobs.claim('node-1', {
      tenant: 'acme',
      pool: 'ci',
      worker: worker?.id ?? '',
      limit: 3,
      leaseMs: 3_600_000,
    });
    expect(claimed.jobs).toHaveLength(3);
    // All three run on one worker, for longer than the bound: the queue is not empty.
    clock.set(10);
    await services.queueWake.pass();
    clock.set(10 + 2 * BOUND);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    expect(await counts(db.store())).toMatchObject({ running: 3, added: 3 });

    for (const job of claimed.jobs) {
      await services.jobs.complete('node-1', job.id, {
        token: job.leaseToken,
        outcome: 'succeeded',
        result: '{}',
      });
    }
    clock.set(20 + 2 * BOUND);
    await services.queueWake.pass();
    clock.set(20 + 3 * BOUND);
    const shrunk = await services.queueWake.pass();
    expect(shrunk.changed.map((c) => c.reason)).toEqual(['queue-shrink', 'queue-shrink']);
    expect(await counts(db.store())).toMatchObject({ running: 1, added: 1 });
    const left = await db.store().instances.list(ref);
    expect(left.filter((i) => i.desiredStatus === 'running')).toHaveLength(1);
  });

  it("an operator scale makes the workers the operator's: the queue removes none", async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 1, max: 3 });
    const ids = [await submit(services), await submit(services)];
    await services.queueWake.pass();
    expect(await counts(db.store())).toMatchObject({ running: 2, added: 1 });
    await services.pools.scale(admin, 'acme', 'ci', { running: 2 });
    expect(await counts(db.store())).toMatchObject({ running: 2, added: 0 });
    for (const id of ids) await services.jobs.cancel(admin, 'acme', id);
    clock.set(10);
    await services.queueWake.pass();
    clock.set(10 + 2 * BOUND);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    expect(await counts(db.store())).toMatchObject({ running: 2, added: 0 });
  });
});
