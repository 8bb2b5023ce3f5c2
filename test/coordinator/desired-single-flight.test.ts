/**
 * Single flight: watches of one node on one replica (two agents' long-polls, an agent and
 * the dashboard) share one computation of its document after a change, and each gets the
 * document as stored. On SQLite and Postgres.
 */
import { expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { ephemeralSigningKey } from '../../src/coordinator/desired/signing-key.ts';
import { DesiredService } from '../../src/coordinator/services/desired-service.ts';
import { countingComputations } from '../support/counting-computations.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';
import { apiOver, fixedClock, ok } from './api-client-harness.ts';
import { document, onePoolOnOneNode, statuses, storedStatuses } from './one-node-documents.ts';

await describeEachDatabase('single flight of a node’s watches', (db) => {
  async function setup() {
    const notifier = new ChangeNotifier();
    const counting = countingComputations(db.store());
    const api = await apiOver(counting.store, { notifier, desiredPollMs: 60_000 });
    await onePoolOnOneNode(api, 4);
    const service = new DesiredService({
      store: counting.store,
      clock: fixedClock,
      signingKey: ephemeralSigningKey(),
      notifier,
      pollMs: 60_000,
    });
    const first = document(await service.watch('n1', 0, 1000));
    // Once more, unchanged: the watcher's record now has its marks, so waiting computes nothing.
    await service.watch('n1', first.generation, 0);
    // The counter pairs a generation read with an upsert before the next macrotask; SQLite's
    // requests may run on microtasks alone, so let one pass.
    await new Promise((resolve) => setImmediate(resolve));
    return { api, service, counting, first };
  }

  it('two watches waiting on one node: one computation after a change, both get it', async () => {
    const { api, service, counting, first } = await setup();
    const before = counting.computed('n1');
    const watches = [
      service.watch('n1', first.generation, 30_000),
      service.watch('n1', first.generation, 30_000),
    ];
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 3, warm: 1 });
    const [a, b] = (await Promise.all(watches)).map(document);
    expect(counting.computed('n1') - before).toBe(1);
    const stored = await storedStatuses(db.store());
    expect(Object.values(stored)).toContain('warm');
    expect(statuses(a as NodeDesired)).toEqual(stored);
    expect(statuses(b as NodeDesired)).toEqual(stored);
    expect(a?.generation).toBe(b?.generation);
    expect(a?.generation).toBeGreaterThan(first.generation);
    service.close();
  });

  it('a watch from the start (a restarted agent, the dashboard) joins one after a change', async () => {
    const { api, service, counting, first } = await setup();
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 2, warm: 2 });
    const before = counting.computed('n1');
    const [a, b] = (
      await Promise.all([service.watch('n1', first.generation, 30_000), service.watch('n1', 0, 1)])
    ).map(document);
    expect(counting.computed('n1') - before).toBe(1);
    const stored = await storedStatuses(db.store());
    expect(statuses(a as NodeDesired)).toEqual(stored);
    expect(statuses(b as NodeDesired)).toEqual(stored);

    // A change after a computation began is not served by it: the later watch computes again.
    const next = a?.generation ?? 0;
    const late = service.watch('n1', next, 30_000);
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 4, warm: 0 });
    const c = document(await late);
    expect(statuses(c)).toEqual(await storedStatuses(db.store()));
    service.close();
  });
});
