import { afterEach, expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { watchQueueWake } from '../../src/coordinator/jobs/queue-wake-watch.ts';
import { listenForJobs, type JobListener } from '../../src/db/job-listener.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { until } from '../support/until.ts';
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

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await closeCoordinators();
});

async function queueActions(store: Store): Promise<string[]> {
  const events = await store.audit.list({ tenantId: 'acme', limit: 100 });
  return events
    .filter((e) => e.actor === 'system:queue-wake')
    .map((e) => e.action)
    .reverse();
}

await describeEachDatabase('queue-driven pools: wake on submit, grow, shrink', (db) => {
  it('a submit raises a sleeping worker at once, with no idle loop running', async () => {
    const clock = manualClock();
    const notifier = new ChangeNotifier();
    const services = coordinator(db.store(), clock, notifier);
    await setup(services, db.store());
    clock.set(200);
    await services.idle.pass();
    await nodeSettles(services, db.store());
    expect(await desiredStatuses(db.store())).toEqual(['sleeping', 'sleeping']);

    // Only the watch runs: no idle loop, no queueWake.pass() called by the test.
    const watch = watchQueueWake({ notifier, queueWake: services.queueWake });
    stops.push(() => watch.stop());
    await submit(services);
    await until(
      'the submit to raise one worker',
      async () => ((await desiredStatuses(db.store())).includes('running') ? true : undefined),
      20_000,
      20,
    );
    expect((await desiredStatuses(db.store())).sort()).toEqual(['running', 'sleeping']);
    expect(await queueActions(db.store())).toEqual(['instance.queue-wake']);
  });

  it.skipIf(db.name !== 'postgres')(
    "another replica's submit raises the worker through LISTEN/NOTIFY",
    async () => {
      const clock = manualClock();
      const here = coordinator(db.store(), clock, new ChangeNotifier());
      await setup(here, db.store());
      clock.set(200);
      await here.idle.pass();
      await nodeSettles(here, db.store());

      // The replica that watches hears of jobs only through LISTEN.
      const notifier = new ChangeNotifier();
      const there = coordinator(await db.reopen(), clock, notifier);
      const heard = new Set<string>();
      notifier.onJobs((pools) => pools.forEach((p) => heard.add(p)));
      const listener: JobListener | undefined = listenForJobs(db.url(), (key) =>
        notifier.notify({ jobs: [key] }),
      );
      stops.push(async () => listener?.close());
      // Ready once a probe announced on the database comes back.
      await until('LISTEN in place', async () => {
        await db.store().jobQueue.announce('probe', 'probe');
        return heard.has('probe/probe') ? true : undefined;
      });
      const watch = watchQueueWake({ notifier, queueWake: there.queueWake });
      stops.push(() => watch.stop());

      await submit(here);
      await until(
        'the other replica to raise a worker',
        async () => ((await desiredStatuses(db.store())).includes('running') ? true : undefined),
        20_000,
        20,
      );
      expect((await desiredStatuses(db.store())).sort()).toEqual(['running', 'sleeping']);
    },
  );

  it('grows the pool up to max for a queue its workers cannot cover, then shrinks to min', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 1, max: 3 });
    const jobs = [];
    for (let n = 0; n < 5; n += 1) jobs.push(await submit(services));

    const grown = await services.queueWake.pass();
    expect(grown.changed.map((c) => c.reason)).toEqual(['queue-grow', 'queue-grow']);
    expect((await db.store().pools.get('acme', 'ci'))?.counts).toEqual({
      running: 3,
      warm: 0,
      sleeping: 0,
    });
    expect(await desiredStatuses(db.store())).toEqual(['running', 'running', 'running']);
    // At max: more queued jobs add nothing.
    await submit(services);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    expect(await queueActions(db.store())).toEqual(['pool.queue-grow']);

    // The queue empties: the idle policy lowers every worker (min 0), none is removed.
    for (const id of [...jobs, ...(await pendingJobs(db.store()))]) {
      await services.jobs.cancel(admin, 'acme', id).catch(() => undefined);
    }
    await placeAll(services, db.store());
    await nodeSettles(services, db.store());
    clock.set(400);
    await services.idle.pass();
    await nodeSettles(services, db.store());
    expect(await desiredStatuses(db.store())).toEqual(['sleeping', 'sleeping', 'sleeping']);
    expect((await services.queueWake.pass()).changed).toEqual([]);

    // Raising comes before growing: two jobs wake two of the three, nothing is added.
    await submit(services);
    await submit(services);
    const woken = await services.queueWake.pass();
    expect(woken.changed.map((c) => c.reason)).toEqual(['queue-wake', 'queue-wake']);
    expect((await db.store().pools.get('acme', 'ci'))?.counts.running).toBe(3);
  });

  it('with min 1 the pool grows to one worker with an empty queue and keeps it awake', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 0, max: 2 });
    await services.queueWake.setScale(admin, 'acme', 'ci', { min: 1, max: 2 });
    const grown = await services.queueWake.pass();
    expect(grown.changed).toMatchObject([{ to: 'running', reason: 'queue-grow' }]);
    await placeAll(services, db.store());
    expect((await nodeSettles(services, db.store())).map((i) => i.status)).toEqual(['running']);
    clock.set(400);
    expect((await services.idle.pass()).changed).toEqual([]);
    expect(await desiredStatuses(db.store())).toEqual(['running']);
  });

  it('never lowers a worker holding a lease', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store());
    await submit(services);
    const [busy, idle] = await db.store().instances.list(ref);
    if (!busy || !idle) throw new Error('expected two workers');
    clock.set(200);
    const claimed = await services.jobs.claim('node-1', {
      tenant: 'acme',
      pool: 'ci',
      worker: busy.id,
      leaseMs: 600_000,
    });
    expect(claimed.jobs).toHaveLength(1);
    const lowered = await services.idle.pass();
    expect(lowered.changed.map((c) => c.instance)).toEqual([`acme/ci/${idle.id}`]);
    const after = await db.store().instances.list(ref);
    expect(after.find((i) => i.id === busy.id)?.desiredStatus).toBe('running');
    expect(after.find((i) => i.id === idle.id)?.desiredStatus).toBe('sleeping');
  });

  it('grows no further than the tenant quotas allow, and writes nothing over them', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 1, max: 3 });
    await services.tenants.update(admin, 'acme', { quotas: { maxInstancesPerPool: 1 } });
    for (let n = 0; n < 3; n += 1) await submit(services);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    expect((await db.store().pools.get('acme', 'ci'))?.counts.running).toBe(1);
    expect(await db.store().instances.list(ref)).toHaveLength(1);
    expect(await queueActions(db.store())).toEqual([]);
  });
});

async function pendingJobs(store: Store): Promise<string[]> {
  const queued = await store.jobs.list({ ...ref, state: 'queued', limit: 100 });
  return queued.map((j) => j.id);
}
