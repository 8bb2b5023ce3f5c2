import { afterEach, expect, it } from 'vitest';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  admin,
  closeCoordinators,
  coordinator,
  desiredStatuses,
  manualClock,
  placeAll,
  setup,
  submit,
} from './queue-pool-world.ts';

/**
 * A queue's growth and shrink write the pool and the workers they change as a scale does
 * (docs/scale.md, "A scale's writes in one statement"): one statement on Postgres, the pool's
 * update and then each worker's on SQLite.
 */

afterEach(async () => {
  await closeCoordinators();
});

/** The shrink bound (QUEUE_SHRINK_AFTER_MS) in seconds. */
const BOUND = 600;

async function recordingStore(url: string): Promise<{ store: Store; statements: string[] }> {
  const statements: string[] = [];
  const store = await openStore(url, {
    tokenCacheMs: 600_000,
    onQuery: (sql) => statements.push(sql.replace(/\s+/g, ' ')),
  });
  return { store, statements };
}

/** The writes of the pool and its instances among `statements`. */
const writes = (statements: readonly string[]) =>
  statements.filter((s) => /update "(pools|instances)"/.test(s));
const together = (s: string) => /^with "pool" as \(update "pools".*update "instances"/.test(s);

await describeEachDatabase('queue statements', (db) => {
  it("writes a shrink's and a regrowth's workers with the pool, in one statement on Postgres", async () => {
    const { store, statements } = await recordingStore(db.url());
    try {
      const clock = manualClock();
      const services = coordinator(store, clock);
      await setup(services, store, { workers: 1, max: 3 });
      const jobs: string[] = [];
      for (let n = 0; n < 3; n += 1) jobs.push(await submit(services));
      await services.queueWake.pass();
      await placeAll(services, store);
      for (const id of jobs) await services.jobs.cancel(admin, 'acme', id);
      clock.set(100);
      await services.queueWake.pass();

      clock.set(100 + BOUND);
      statements.length = 0;
      const shrunk = await services.queueWake.pass();
      expect(shrunk.changed.map((c) => c.reason)).toEqual(['queue-shrink', 'queue-shrink']);
      expect(writes(statements)).toHaveLength(db.name === 'postgres' ? 1 : 3);
      expect(statements.filter(together)).toHaveLength(db.name === 'postgres' ? 1 : 0);
      expect((await desiredStatuses(store)).sort()).toEqual(['running', 'stopped', 'stopped']);

      // A new burst reuses the two stopped workers: both raised with the pool.
      for (let n = 0; n < 3; n += 1) await submit(services);
      statements.length = 0;
      const regrown = await services.queueWake.pass();
      expect(regrown.changed.map((c) => c.reason)).toEqual(['queue-grow', 'queue-grow']);
      expect(writes(statements)).toHaveLength(db.name === 'postgres' ? 1 : 3);
      expect(statements.filter(together)).toHaveLength(db.name === 'postgres' ? 1 : 0);
      expect(await desiredStatuses(store)).toEqual(['running', 'running', 'running']);
      expect((await store.pools.get('acme', 'ci'))?.counts).toMatchObject({ running: 3 });
      // Audited as before: each event names the workers it changed.
      const events = (await store.audit.list({ tenantId: 'acme', limit: 100 })).filter((e) =>
        e.action.startsWith('pool.queue-'),
      );
      // The latest first: the regrowth, the shrink (the first growth created its workers).
      events.length = 2;
      expect(events.map((e) => e.action)).toEqual(['pool.queue-grow', 'pool.queue-shrink']);
      for (const event of events) {
        expect((event.detail as { changed: string[] }).changed).toHaveLength(2);
      }
    } finally {
      await store.close();
    }
  });
});
