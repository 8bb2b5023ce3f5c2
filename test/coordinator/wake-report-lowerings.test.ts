import { expect, it } from 'vitest';
import type { Services } from '../../src/coordinator/services/index.ts';
import type { Instance } from '../../src/core/model.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { admin, instanceKey, runningIdleWorker } from './support/policy-harness.ts';

/**
 * A wake the node admitted itself, reported again by a restarted agent (the first report
 * answered, the agent killed before it noted the answer), does not undo a lowering made since:
 * every lowering carries its time (`loweredAt`: the idle policy, an operator's warm or sleep, a
 * pool's scale or a queue's shrink;
 * pressure and overcommit also `pressureSleptAt`), and a report admitted at or before it is
 * answered as the instance stands. One admitted after the lowering still raises it.
 */
const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const NODE = 'node-1';
const iso = (secs: number) => new Date(T0 + secs * 1000).toISOString();

const nodeWake = (secsAgo: number) =>
  ({
    trigger: 'connect',
    port: 80,
    from: '10.0.0.9',
    source: 'tenant',
    admittedBy: 'node',
    admittedMsAgo: secsAgo * 1000,
  }) as const;

async function wakeEvents(store: Store) {
  const events = await store.audit.list({ tenantId: 'acme', limit: 100 });
  return events.filter((e) => e.action === 'instance.wake-on-connect');
}

async function current(store: Store, instance: Instance): Promise<Instance> {
  const found = await store.instances.get(instanceKey(instance));
  if (!found) throw new Error('the instance went away');
  return found;
}

/** Reported twice: once admitted before `at`, then once after it. */
async function reportsAround(
  services: Services,
  instance: Instance,
  clock: { set(secs: number): void },
  loweredAtSecs: number,
) {
  clock.set(loweredAtSecs + 10);
  const repeat = await services.instances.reportWake(NODE, instanceKey(instance), nodeWake(15));
  const fresh = await services.instances.reportWake(NODE, instanceKey(instance), nodeWake(5));
  return { repeat, fresh };
}

await describeEachDatabase('a wake report repeated after a lowering made since', (db) => {
  it('leaves an idle lowering standing, and a wake admitted after it raises the instance', async () => {
    const store = db.store();
    const { clock, services, created } = await runningIdleWorker(store, T0);
    // Idle since the start: the policy sends it warm at 30 s.
    clock.set(30);
    expect((await services.idle.pass()).changed).toMatchObject([{ to: 'warm' }]);
    const warm = await current(store, created);
    expect(warm).toMatchObject({ desiredStatus: 'warm', loweredAt: iso(30) });

    // At 40 s: admitted at 25 s (before the lowering), then at 35 s (after it).
    const { repeat, fresh } = await reportsAround(services, created, clock, 30);
    expect(repeat.desiredStatus).toBe('warm');
    expect(fresh.desiredStatus).toBe('running');
    const events = await wakeEvents(store);
    const stale = events.find((e) => e.detail.to === 'warm');
    expect(stale?.detail).toMatchObject({ from: 'warm', loweredSince: iso(30) });
  });

  it("leaves an operator's sleep standing, and a wake admitted after it raises the instance", async () => {
    const store = db.store();
    const { clock, services, created } = await runningIdleWorker(store, T0);
    clock.set(10);
    await services.instances.act(admin, instanceKey(created), { action: 'sleep' });
    expect(await current(store, created)).toMatchObject({
      desiredStatus: 'sleeping',
      loweredAt: iso(10),
    });

    const { repeat, fresh } = await reportsAround(services, created, clock, 10);
    expect(repeat.desiredStatus).toBe('sleeping');
    expect(fresh.desiredStatus).toBe('running');
    const events = await wakeEvents(store);
    expect(events.find((e) => e.detail.to === 'sleeping')?.detail).toMatchObject({
      loweredSince: iso(10),
    });
  });

  it("leaves a pool scale's lowering standing (one statement on Postgres), and a wake admitted after it raises the instance", async () => {
    const store = db.store();
    const { clock, services, created } = await runningIdleWorker(store, T0);
    clock.set(10);
    await services.pools.scale(admin, 'acme', 'web', { running: 0, warm: 1 });
    expect(await current(store, created)).toMatchObject({
      desiredStatus: 'warm',
      loweredAt: iso(10),
    });
    clock.set(12);
    // Raised again by a scale: no lowering, the stamp stays that of the lowering.
    await services.pools.scale(admin, 'acme', 'web', { running: 1, warm: 0 });
    clock.set(14);
    await services.pools.scale(admin, 'acme', 'web', { running: 0, warm: 1 });
    expect(await current(store, created)).toMatchObject({ loweredAt: iso(14) });

    const { repeat, fresh } = await reportsAround(services, created, clock, 14);
    expect(repeat.desiredStatus).toBe('warm');
    expect(fresh.desiredStatus).toBe('running');
  });

  it("an operator's raise is no lowering: a wake admitted before it is raised as before", async () => {
    const store = db.store();
    const { clock, services, created } = await runningIdleWorker(store, T0);
    clock.set(10);
    await services.instances.act(admin, instanceKey(created), { action: 'sleep' });
    clock.set(20);
    await services.instances.act(admin, instanceKey(created), { action: 'warm' });
    const warm = await current(store, created);
    expect(warm).toMatchObject({ desiredStatus: 'warm', loweredAt: iso(10) });
    // At 30 s, admitted at 15 s: after the sleep, before the raise to warm.
    clock.set(30);
    const answer = await services.instances.reportWake(NODE, instanceKey(created), nodeWake(15));
    expect(answer.desiredStatus).toBe('running');
  });
});
