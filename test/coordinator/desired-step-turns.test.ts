/**
 * A node's document computation pauses between its steps while a write is in progress in
 * this process (desired/loop-turn.ts), so the write's statements are answered before the
 * document's next synchronous step, and at most its budget in all. On SQLite and Postgres.
 */
import { expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { ephemeralSigningKey } from '../../src/coordinator/desired/signing-key.ts';
import { DesiredService } from '../../src/coordinator/services/desired-service.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, fixedClock, ok } from './api-client-harness.ts';
import { document, onePoolOnOneNode, statuses, storedStatuses } from './one-node-documents.ts';

const settledWithin = async (promise: Promise<unknown>, ms: number): Promise<boolean> => {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
  return settled;
};

await describeEachDatabase('a document computation beside a write', (db) => {
  async function setup(stepYieldMs: number) {
    const notifier = new ChangeNotifier();
    const api = await apiOver(db.store(), { notifier, desiredPollMs: 60_000 });
    await onePoolOnOneNode(api, 4);
    const service = new DesiredService({
      store: db.store(),
      clock: fixedClock,
      signingKey: ephemeralSigningKey(),
      notifier,
      pollMs: 60_000,
      // No pacing: the node is computed at once (the pacer would wait for the write too).
      paceMs: 0,
      stepYieldMs,
    });
    const first = document(await service.watch('n1', 0, 1000));
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 3, warm: 1 });
    // A write in progress (as a scale's transaction is), ended by the test.
    let end = () => {};
    const write = notifier.writes.run(() => new Promise<void>((resolve) => (end = resolve)));
    return { service, first, write, end: () => end() };
  }

  it('waits at its steps while a write is in progress, then answers the change', async () => {
    const { service, first, write, end } = await setup(60_000);
    const watch = service.watch('n1', first.generation, 30_000);
    expect(await settledWithin(watch, 300)).toBe(false);
    end();
    await write;
    const next = document(await watch);
    expect(next.generation).toBeGreaterThan(first.generation);
    expect(statuses(next)).toEqual(await storedStatuses(db.store()));
    service.close();
  });

  it('waits for the write its budget at most', async () => {
    const { service, first, write, end } = await setup(50);
    const watch = service.watch('n1', first.generation, 30_000);
    expect(await settledWithin(watch, 2_000)).toBe(true);
    expect(document(await watch).generation).toBeGreaterThan(first.generation);
    end();
    await write;
    service.close();
  });
});
