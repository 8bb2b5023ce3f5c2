import { afterEach, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  admin,
  closeCoordinators,
  coordinator,
  iso,
  keyOf,
  manualClock,
  placeAll,
  ref,
  setup,
  submit,
} from './queue-pool-world.ts';

afterEach(async () => {
  await closeCoordinators();
});

const claimFor = (worker: string) => ({ tenant: 'acme', pool: 'ci', worker, limit: 1 });

await describeEachDatabase('queue-driven pools: the shrink bound and claims racing it', (db) => {
  it("takes the pool's own shrink bound, and refuses one out of range without a change", async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 1, max: 3 });
    await services.queueWake.setScale(admin, 'acme', 'ci', {
      min: 0,
      max: 3,
      shrinkAfterSecs: 60,
    });
    expect((await db.store().pools.get('acme', 'ci'))?.queueScale).toEqual({
      min: 0,
      max: 3,
      shrinkAfterSecs: 60,
    });
    await expect(
      services.queueWake.setScale(admin, 'acme', 'ci', { min: 0, max: 3, shrinkAfterSecs: 90_000 }),
    ).rejects.toThrow(ValidationError);
    expect((await db.store().pools.get('acme', 'ci'))?.queueScale?.shrinkAfterSecs).toBe(60);

    const jobs = [await submit(services), await submit(services)];
    await services.queueWake.pass();
    await placeAll(services, db.store());
    expect((await db.store().pools.get('acme', 'ci'))?.queueAdded).toBe(1);
    for (const id of jobs) await services.jobs.cancel(admin, 'acme', id);
    clock.set(100);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    clock.set(159);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    // 60 s, not the default 600: the worker the queue added goes.
    clock.set(160);
    const shrunk = await services.queueWake.pass();
    expect(shrunk.changed.map((c) => [c.to, c.reason])).toEqual([['stopped', 'queue-shrink']]);
  });

  it('a claim waits for a shrink that holds the claimers, then finds its worker stopped', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 2, max: 2 });
    const [doomed, kept] = (await db.store().instances.list(ref)).sort((a, b) =>
      a.id.localeCompare(b.id),
    );
    if (!doomed || !kept) throw new Error('setup made fewer than two workers');
    const job = await submit(services);

    let locked: () => void = () => undefined;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // What shrinkQueuePool does, held open: the claimers' lock, then the worker stopped.
    const shrink = db.store().transaction(async (repos) => {
      await repos.jobQueue.lockClaimers('acme', 'ci');
      locked();
      await gate;
      const fresh = await repos.instances.get(keyOf(doomed));
      await repos.instances.setDesired(keyOf(doomed), 'stopped', fresh?.version ?? 0, iso(1));
    });
    await lockTaken;
    let settled = false;
    const racing = services.jobs.claim('node-1', claimFor(doomed.id)).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(settled).toBe(false);
    release();
    await shrink;
    expect((await racing).jobs).toEqual([]);
    expect((await db.store().jobs.get(job))?.state).toBe('queued');
    // A worker still meant to run claims it.
    const claimed = await services.jobs.claim('node-1', claimFor(kept.id));
    expect(claimed.jobs.map((j) => [j.id, j.worker])).toEqual([[job, `node-1/${kept.id}`]]);
  });

  it('a claim that leased first makes the shrink refuse; a worker the shrink stopped claims nothing', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { workers: 1, max: 3 });
    await services.queueWake.setScale(admin, 'acme', 'ci', { min: 0, max: 3, shrinkAfterSecs: 0 });
    const jobs = [await submit(services), await submit(services), await submit(services)];
    await services.queueWake.pass();
    await placeAll(services, db.store());
    const workers = (await db.store().instances.list(ref)).map((i) => i.id).sort();
    expect(workers).toHaveLength(3);
    // Everything but one job cancelled; a worker holds that one: no shrink, however long.
    for (const id of jobs.slice(1)) await services.jobs.cancel(admin, 'acme', id);
    const [holder] = workers;
    const held = await services.jobs.claim('node-1', {
      ...claimFor(holder ?? ''),
      leaseMs: 600_000,
    });
    expect(held.jobs).toHaveLength(1);
    clock.set(10);
    expect((await services.queueWake.pass()).changed).toEqual([]);
    await services.jobs.complete('node-1', jobs[0] ?? '', {
      outcome: 'succeeded',
      token: held.jobs[0]?.leaseToken ?? '',
      result: '{}',
    });
    // --shrink-after 0: the first pass that sees the queue empty takes the queue's workers.
    clock.set(20);
    const shrunk = await services.queueWake.pass();
    const stopped = shrunk.changed.map((c) => c.instance.split('/')[2] ?? '');
    expect(stopped).toHaveLength(2);
    // A job arrives before any pass raises them again: the stopped workers claim nothing.
    const late = await submit(services);
    for (const id of stopped) {
      expect((await services.jobs.claim('node-1', claimFor(id))).jobs).toEqual([]);
    }
    expect((await db.store().jobs.get(late))?.state).toBe('queued');
  });
});
