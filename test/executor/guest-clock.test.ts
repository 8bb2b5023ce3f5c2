/**
 * A worker's wall clock that is not the coordinator's (a TCG guest on refined-jiffies falls
 * behind its host when starved; docs/jobs.md, "The executor's clock"): the executor judges a
 * job by the coordinator's time (src/executor/job-clock.ts). A real executor process against
 * a real coordinator, its Date.now shifted a minute either way.
 *
 * Before: a lagging clock saw a due sleep as still ahead and parked the job again for a time
 * already past, so the worker claimed and parked it in a loop; a leading clock slept a minute
 * too long.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { callsModule } from './job-modules.ts';
import { bundleExecutor, removeBundle, startCoordinator, startExecutor } from './executor-world.ts';

const SKEW_MS = 60_000;
const SLEEP_MS = 1_500;

let bundle: { main: string; dir: string };
beforeAll(async () => {
  bundle = await bundleExecutor();
}, 60_000);
afterAll(async () => {
  await removeBundle(bundle.dir);
});

await describeEachDatabase('executor on a skewed clock', ({ store }) => {
  let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
  beforeEach(async () => {
    coordinator = await startCoordinator(store(), ['lag', 'lead']);
  });
  afterEach(async () => {
    await coordinator.close();
  });

  for (const [pool, skew] of [
    ['lag', -SKEW_MS],
    ['lead', SKEW_MS],
  ] as const) {
    it(`a clock ${SKEW_MS / 1000} s ${pool === 'lag' ? 'behind' : 'ahead'}: the sleep lasts its time on the coordinator's clock, one park`, async () => {
      const id = await coordinator.submit(
        callsModule([
          ['sleep', `{"ms":${SLEEP_MS}}`],
          ['now', '{}'],
        ]),
        pool,
      );
      // Two runs: the one that parks, the one that finishes. A worker that parks the job
      // again (the lagging clock's loop) or waits a minute for it (the leading one) ends
      // after them, or idle, with the job unfinished.
      const run = await startExecutor(bundle.main, coordinator.url, {
        pool,
        maxJobs: 2,
        idleExitMs: 15_000,
        clockSkewMs: skew,
      }).exited;
      expect(run.code, run.output).toBe(0);
      const job = await store().jobs.get(id);
      expect(job, run.output).toMatchObject({ state: 'succeeded', attempts: 2, failedAttempts: 0 });
      const entries = await store().jobJournal.entries(id);
      expect(entries.map((e) => [e.op, e.state, e.attempt])).toEqual([
        ['sleep', 'completed', 1],
        ['now', 'completed', 2],
      ]);
      const [slept, asked] = entries;
      const wakeAt = Date.parse(
        String((JSON.parse(slept?.response ?? '{}') as { wakeAt?: string }).wakeAt),
      );
      const sleptAt = Date.parse(slept?.completedAt ?? '');
      const askedAt = Date.parse(asked?.completedAt ?? '');
      // The wake time is the sleep's length after the call, both on the coordinator's clock
      // (the worker's own was a minute off), and the job went on only after it.
      expect(wakeAt - sleptAt).toBeGreaterThan(SLEEP_MS - SKEW_MS / 2);
      expect(wakeAt - sleptAt).toBeLessThanOrEqual(SLEEP_MS);
      expect(askedAt).toBeGreaterThanOrEqual(wakeAt);
      // `now` answers the coordinator's time too, not the worker's.
      const now = (JSON.parse(asked?.response ?? '{}') as { ms?: number }).ms ?? Number.NaN;
      expect(Math.abs(now - askedAt)).toBeLessThan(SKEW_MS / 2);
    }, 120_000);
  }
});
