import { afterEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../../support/store-harness.ts';
import {
  admin,
  closeCoordinators,
  coordinator,
  manualClock,
  ref,
  setup,
  submit,
} from '../queue-pool-world.ts';

afterEach(async () => {
  await closeCoordinators();
});

await describeEachDatabase("a tenant's running-jobs quota, enforced at claim", (db) => {
  it('hands out no more than the tenant column allows, and follows a change at once', async () => {
    const services = coordinator(db.store(), manualClock());
    await setup(services, db.store(), { workers: 2 });
    const [a, b] = await db.store().instances.list(ref);
    if (!a || !b) throw new Error('expected two workers');
    for (let n = 0; n < 4; n += 1) await submit(services);
    const claim = async (worker: string) =>
      (await services.jobs.claim('node-1', { tenant: 'acme', pool: 'ci', worker, limit: 4 })).jobs;

    const updated = await services.tenants.update(admin, 'acme', { maxRunningJobs: 1 });
    expect(updated.maxRunningJobs).toBe(1);
    expect(await claim(a.id)).toHaveLength(1);
    expect(await claim(b.id)).toHaveLength(0);
    expect(await db.store().jobQueue.runningCount('acme')).toBe(1);

    await services.tenants.update(admin, 'acme', { maxRunningJobs: 2 });
    expect(await claim(b.id)).toHaveLength(1);
    expect(await claim(a.id)).toHaveLength(0);

    // null: no limit of its own; the rest of the queue is claimable.
    const cleared = await services.tenants.update(admin, 'acme', { maxRunningJobs: null });
    expect(cleared.maxRunningJobs).toBeUndefined();
    expect(await claim(a.id)).toHaveLength(2);
    expect(await db.store().jobQueue.runningCount('acme')).toBe(4);
    const stored = await db.store().tenants.get('acme');
    expect(stored?.maxRunningJobs).toBeUndefined();
  });

  it('a quota of 0 stops claims, and the column survives a reopen', async () => {
    const services = coordinator(db.store(), manualClock());
    await setup(services, db.store(), { workers: 1 });
    const [a] = await db.store().instances.list(ref);
    await submit(services);
    await services.tenants.update(admin, 'acme', { maxRunningJobs: 0 });
    const reopened = await db.reopen();
    expect((await reopened.tenants.get('acme'))?.maxRunningJobs).toBe(0);
    const got = await services.jobs.claim('node-1', {
      tenant: 'acme',
      pool: 'ci',
      worker: a?.id ?? '',
    });
    expect(got.jobs).toEqual([]);
    expect((await db.store().jobs.list({ state: 'queued', limit: 5 })).length).toBe(1);
  });
});
