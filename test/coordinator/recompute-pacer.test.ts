/**
 * A hot node's document (computed moments ago) is recomputed in a pause between writes, at
 * most once per pace while writes go on (desired/recompute-pacer.ts): a burst of scales on one
 * node ends with its watcher holding the last state, computed once or twice, not once per
 * scale. A node not computed within the pace is computed at once, writes or not. The service
 * part runs on SQLite and Postgres.
 */
import { describe, expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { RecomputePacer } from '../../src/coordinator/desired/recompute-pacer.ts';
import { ephemeralSigningKey } from '../../src/coordinator/desired/signing-key.ts';
import { WriteActivity } from '../../src/coordinator/desired/write-activity.ts';
import { DesiredService } from '../../src/coordinator/services/desired-service.ts';
import { countingComputations } from '../support/counting-computations.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import type { DesiredWatchResponse } from '../../src/contract/desired.ts';
import type { Store } from '../../src/ports/store.ts';
import { apiOver, fixedClock, ok } from './api-client-harness.ts';
import { document, onePoolOnOneNode, statuses, storedStatuses } from './one-node-documents.ts';
import { overriding } from '../support/store-proxy.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A write held in progress until `release` is called. */
function heldWrite(writes: WriteActivity) {
  let release = () => {};
  const done = writes.run(() => new Promise<void>((r) => (release = r)));
  return { release: () => release(), done };
}

describe('write activity', () => {
  it('is quiet after a pause of `graceMs`, at `untilMs` at the latest, or on abort', async () => {
    const writes = new WriteActivity();
    const now = () => performance.now();
    let started = now();
    await writes.quiet(5, started + 10_000);
    expect(now() - started).toBeLessThan(1000);

    const held = heldWrite(writes);
    expect(writes.inFlight).toBe(1);
    let quiet = false;
    const waiting = writes.quiet(5, now() + 60_000).then(() => (quiet = true));
    await sleep(50);
    expect(quiet).toBe(false);
    held.release();
    await held.done;
    expect(writes.inFlight).toBe(0);
    await waiting;
    expect(quiet).toBe(true);

    // Writes that never pause: `untilMs` ends the wait.
    const endless = heldWrite(writes);
    started = now();
    await writes.quiet(5, started + 40);
    expect(now() - started).toBeGreaterThanOrEqual(39);
    const abort = new AbortController();
    const aborted = writes.quiet(5, now() + 60_000, abort.signal);
    abort.abort();
    await aborted;
    endless.release();
    await endless.done;
  });

  it('is quiet at once when the last write ended alone, not after `graceMs`', async () => {
    const writes = new WriteActivity();
    const forever = () => performance.now() + 60_000;
    // A lone write (nothing beside it, none just before it): quiet as soon as it ends.
    const lone = heldWrite(writes);
    const afterLone = writes.quiet(60_000, forever());
    lone.release();
    await lone.done;
    await afterLone;

    // Two writes side by side: a burst, so the pause of `graceMs` is waited for.
    const abort = new AbortController();
    const first = heldWrite(writes);
    const second = heldWrite(writes);
    let quiet = false;
    const afterPair = writes.quiet(60_000, forever(), abort.signal).then(() => (quiet = true));
    first.release();
    second.release();
    await Promise.all([first.done, second.done]);
    await sleep(50);
    expect(quiet).toBe(false);

    // A write begun right after another ended: a burst too, though nothing ran beside it.
    await sleep(30);
    await writes.run(() => Promise.resolve());
    await writes.run(() => Promise.resolve());
    let quietAgain = false;
    const afterSequence = writes.quiet(20, forever(), abort.signal).then(() => (quietAgain = true));
    await sleep(5);
    expect(quietAgain).toBe(false);
    abort.abort();
    await Promise.all([afterPair, afterSequence]);
  });

  it('counts a failed write as ended', async () => {
    const writes = new WriteActivity();
    await expect(writes.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(writes.inFlight).toBe(0);
  });
});

describe('recompute pacer', () => {
  it('waits only for a node computed within the pace, and only while writes go on', async () => {
    const writes = new WriteActivity();
    const pacer = new RecomputePacer(writes, {
      paceMs: 60_000,
      costFactor: 8,
      graceMs: 2,
      maxPaceMs: 60_000,
    });
    const held = heldWrite(writes);
    // Never computed: at once, though a write is in progress.
    const first = await pacer.turn('n1');
    expect(first.waited).toBe(false);
    first.done();
    // Hot now: it waits for the write to end.
    let turned = false;
    const second = pacer.turn('n1').then((turn) => ((turned = true), turn.waited));
    await sleep(50);
    expect(turned).toBe(false);
    // Another node is not held by n1's pace.
    expect((await pacer.turn('n2')).waited).toBe(false);
    held.release();
    expect(await second).toBe(true);
    // A lone write's end is its hot node's turn: no pause of `graceMs` (a minute here) after it
    // (the first write of its activity: none ended less than `graceMs` before it).
    const fresh = new WriteActivity();
    const patient = new RecomputePacer(fresh, {
      paceMs: 60_000,
      costFactor: 8,
      graceMs: 60_000,
      maxPaceMs: 60_000,
    });
    (await patient.turn('n6')).done();
    await sleep(10);
    const alone = heldWrite(fresh);
    const lone = patient.turn('n6');
    await sleep(20);
    alone.release();
    expect((await lone).waited).toBe(true);

    // A node's pace grows with its computations' duration: 40 ms at 8 times is 320 ms.
    const slow = new RecomputePacer(writes, {
      paceMs: 10,
      costFactor: 8,
      graceMs: 2,
      maxPaceMs: 60_000,
    });
    const busy = heldWrite(writes);
    const long = await slow.turn('n3');
    await sleep(40);
    long.done();
    await sleep(100);
    let slowTurned = false;
    const slowSecond = slow.turn('n3').then(() => (slowTurned = true));
    await sleep(50);
    expect(slowTurned).toBe(false);
    busy.release();
    await slowSecond;

    // Capped: a computation of 40 ms at 8 times, capped at 60 ms, paces for 60 ms only.
    const capped = new RecomputePacer(writes, {
      paceMs: 10,
      costFactor: 8,
      graceMs: 2,
      maxPaceMs: 60,
    });
    const open = heldWrite(writes);
    const slowTurn = await capped.turn('n5');
    await sleep(40);
    slowTurn.done();
    await sleep(100);
    expect((await capped.turn('n5')).waited).toBe(false);
    open.release();
    await open.done;

    // Its pace gone by, a node is computed at once again, writes or not.
    const cooled = new RecomputePacer(writes, {
      paceMs: 30,
      costFactor: 1,
      graceMs: 2,
      maxPaceMs: 60_000,
    });
    (await cooled.turn('n4')).done();
    await sleep(60);
    const writing = heldWrite(writes);
    expect((await cooled.turn('n4')).waited).toBe(false);
    writing.release();
    await writing.done;

    const off = new RecomputePacer(writes, {
      paceMs: 0,
      costFactor: 8,
      graceMs: 2,
      maxPaceMs: 60_000,
    });
    const again = heldWrite(writes);
    expect((await off.turn('n1')).waited).toBe(false);
    expect((await off.turn('n1')).waited).toBe(false);
    again.release();
    await again.done;
  });
});

await describeEachDatabase('paced recomputation of a hot node', (db) => {
  it('a burst of scales on a hot node: the watcher holds the last state, computed at most twice', async () => {
    const notifier = new ChangeNotifier();
    const counting = countingComputations(db.store());
    const api = await apiOver(counting.store, { notifier, desiredPollMs: 60_000 });
    await onePoolOnOneNode(api, 8);
    const service = new DesiredService({
      store: counting.store,
      clock: fixedClock,
      signingKey: ephemeralSigningKey(),
      notifier,
      pollMs: 60_000,
      paceMs: 60_000,
    });
    const first = document(await service.watch('n1', 0, 1000));
    const before = counting.computed();
    // Eight scales, one after the other, each moving one more instance to warm, while writes
    // never pause (another is in progress throughout), then the writes end.
    const watching = service.watch('n1', first.generation, 30_000);
    const other = heldWrite(notifier.writes);
    for (let k = 0; k < 8; k += 1) {
      await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 7 - k, warm: k + 1 });
    }
    other.release();
    let held = document(await watching);
    const last = await storedStatuses(db.store());
    // One more computation at most, should the burst have paused once: the watcher catches up.
    if (JSON.stringify(statuses(held)) !== JSON.stringify(last)) {
      held = document(await service.watch('n1', held.generation, 30_000));
    }
    expect(statuses(held)).toEqual(last);
    expect(Object.values(last).filter((s) => s === 'warm')).toHaveLength(8);
    expect(counting.computed() - before).toBeLessThanOrEqual(2);
    service.close();
  });

  it('a hot node waits for a pause in the writes; one not computed within the pace does not', async () => {
    const notifier = new ChangeNotifier();
    const store = db.store();
    const api = await apiOver(store, { notifier, desiredPollMs: 60_000 });
    await onePoolOnOneNode(api, 8);
    const serviceWith = (paceMs: number) =>
      new DesiredService({
        store,
        clock: fixedClock,
        signingKey: ephemeralSigningKey(),
        notifier,
        pollMs: 60_000,
        paceMs,
        paceCostFactor: 1,
      });

    // Hot (computed just now): a scale's change waits while another write is in progress.
    const hot = serviceWith(60_000);
    const first = document(await hot.watch('n1', 0, 1000));
    const held = heldWrite(notifier.writes);
    let answered: DesiredWatchResponse | undefined;
    const watching = hot.watch('n1', first.generation, 30_000).then((a) => (answered = a));
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 7, warm: 1 });
    await sleep(300);
    expect(answered).toBeUndefined();
    held.release();
    await watching;
    const after = await storedStatuses(store);
    expect(statuses(document(answered as DesiredWatchResponse))).toEqual(after);
    hot.close();

    // Not computed within the pace (50 ms): computed at once, the write still in progress.
    const cool = serviceWith(50);
    const base = document(await cool.watch('n1', 0, 1000));
    await sleep(120);
    const busy = heldWrite(notifier.writes);
    const next = cool.watch('n1', base.generation, 30_000);
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 8, warm: 0 });
    const delivered = document(await next);
    expect(notifier.writes.inFlight).toBe(1);
    expect(statuses(delivered)).toEqual(await storedStatuses(store));
    busy.release();
    await busy.done;
    cool.close();
  });
});

/** The store, whose next transaction (one) waits for `release` once `holdNext` is called. */
function holdingTransactions(store: Store) {
  let held: Promise<void> | undefined;
  let release = () => {};
  const transaction: Store['transaction'] = async (fn) => {
    const wait = held;
    held = undefined;
    if (wait) await wait;
    return store.transaction(fn);
  };
  return {
    store: overriding(store, { transaction }),
    holdNext: () => {
      held = new Promise<void>((r) => (release = r));
    },
    release: () => release(),
  };
}

await describeEachDatabase('writes that pace a hot node', (db) => {
  it('an instance action in progress holds a hot node, as a scale does', async () => {
    const notifier = new ChangeNotifier();
    const store = db.store();
    const holding = holdingTransactions(store);
    const api = await apiOver(holding.store, { notifier, desiredPollMs: 60_000 });
    await onePoolOnOneNode(api, 8);
    const service = new DesiredService({
      store,
      clock: fixedClock,
      signingKey: ephemeralSigningKey(),
      notifier,
      pollMs: 60_000,
      paceMs: 60_000,
      paceCostFactor: 1,
    });
    const first = document(await service.watch('n1', 0, 1000));
    const [id] = (await store.instances.list({ tenantId: 'acme', poolId: 'web' })).map((i) => i.id);

    // Hot (computed just now): an instance's action, held before its transaction, is a write
    // in progress, so a scale's change on the node waits for it to end.
    let answered: DesiredWatchResponse | undefined;
    const watching = service.watch('n1', first.generation, 30_000).then((r) => (answered = r));
    holding.holdNext();
    const action = ok(api, 'POST', `/tenants/acme/pools/web/instances/${String(id)}/actions`, {
      action: 'stop',
    });
    await sleep(20);
    expect(notifier.writes.inFlight).toBe(1);
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 7, warm: 1 });
    await sleep(300);
    expect(answered).toBeUndefined();
    holding.release();
    await action;
    await watching;
    // Computed after the action ended: it carries both writes.
    expect(statuses(document(answered as DesiredWatchResponse))).toEqual(
      await storedStatuses(store),
    );
    service.close();
  });
});
