import { afterEach, beforeEach, expect, it } from 'vitest';
import { ChangeNotifier } from '../../../src/coordinator/desired/change-notifier.ts';
import { defaultJobSettings, JobService } from '../../../src/coordinator/services/job-service.ts';
import { listenForJobs, type JobListener } from '../../../src/db/job-listener.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import type { Store } from '../../../src/ports/store.ts';
import { instance, node, pool, tenant } from '../../db/fixtures.ts';
import { describeEachDatabase } from '../../support/store-harness.ts';
import { okModuleBase64 } from './job-module-fixture.ts';

const admin = { kind: 'admin', tokenName: 'test' } as const;
/** What a claimer would otherwise wait: the long-poll's whole window. */
const POLL_MS = 5_000;

function service(store: Store, notifier = new ChangeNotifier()): JobService {
  return new JobService({
    store,
    clock: systemClock,
    randomSuffix: () => 'x',
    clusterCidr: '10.240.0.0/16',
    notifier,
    jobs: defaultJobSettings,
  });
}

const claim = { tenant: 'acme', pool: 'workers', worker: 'w-1', waitMs: POLL_MS };
const submit = { pool: 'workers', wasm: okModuleBase64 };

await describeEachDatabase('job wake-up', ({ name, store, reopen, url }) => {
  let listener: JobListener | undefined;
  beforeEach(async () => {
    await store().tenants.insert(tenant('acme', 1));
    await store().pools.insert(pool('acme', 'workers'));
    await store().nodes.upsert(node('node-1'));
    await store().instances.insert(instance('w-1', 10, { nodeId: 'node-1' }));
  });
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  it('a waiting claim gets a job submitted in this process within milliseconds', async () => {
    const jobs = service(store());
    const waiting = jobs.claim('node-1', claim);
    const timed = waiting.then((got) => ({ got, at: performance.now() }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = performance.now();
    const { job } = await jobs.submit(admin, 'acme', submit);
    const { got, at } = await timed;
    expect(got.jobs.map((j) => j.id)).toEqual([job.id]);
    expect(at - before).toBeLessThan(POLL_MS / 10);
  });

  it('refuses a worker the node does not run', async () => {
    const jobs = service(store());
    await jobs.submit(admin, 'acme', submit);
    await expect(jobs.claim('node-2', { ...claim, waitMs: 0 })).rejects.toThrow(/runs no such/);
    await expect(jobs.claim('node-1', { ...claim, worker: 'w-9' })).rejects.toThrow(/not found/);
  });

  it('a claim for another pool is not woken, and times out empty', async () => {
    await store().pools.insert(pool('acme', 'other'));
    await store().instances.insert(instance('o-1', 11, { poolId: 'other', nodeId: 'node-1' }));
    const jobs = service(store());
    const start = performance.now();
    const waiting = jobs.claim('node-1', { ...claim, worker: 'o-1', pool: 'other', waitMs: 600 });
    await jobs.submit(admin, 'acme', submit);
    expect((await waiting).jobs).toEqual([]);
    expect(performance.now() - start).toBeGreaterThanOrEqual(550);
  });

  it.skipIf(name !== 'postgres')(
    "another replica's submit wakes the claim through LISTEN/NOTIFY",
    async () => {
      const notifier = new ChangeNotifier();
      listener = listenForJobs(url(), (key) => notifier.notify({ jobs: [key] }));
      const here = service(store(), notifier);
      const there = service(await reopen());
      await new Promise((resolve) => setTimeout(resolve, 300)); // LISTEN is in place
      const waiting = here.claim('node-1', claim);
      const timed = waiting.then((got) => ({ got, at: performance.now() }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = performance.now();
      const { job } = await there.submit(admin, 'acme', submit);
      const { got, at } = await timed;
      expect(got.jobs.map((j) => j.id)).toEqual([job.id]);
      expect(at - before).toBeLessThan(POLL_MS / 10);
    },
  );
});
