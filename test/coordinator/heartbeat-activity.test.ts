import { expect, it, vi } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, START, type InstanceJson } from './node-health-harness.ts';
import { node } from '../db/fixtures.ts';
import { runningIdleWorker } from './support/policy-harness.ts';

const iso = (ms: number) => new Date(ms).toISOString();

await describeEachDatabase('heartbeat: activity read only when it may move', ({ store }) => {
  async function oneInstance() {
    const fleet = await fleetOver(store());
    await fleet.registerNode('node-a', 4);
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
    await fleet.ok('POST', '/tenants/acme/pools', {
      id: 'web',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 512,
    });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    const [instance] = await fleet.instances();
    const sample = (lastActiveAt: string) => ({
      tenant: 'acme',
      pool: 'web',
      instance: (instance as InstanceJson).id,
      lastActiveAt,
    });
    const lastActiveAt = async () => (await fleet.instances())[0]?.lastActiveAt;
    return { fleet, sample, lastActiveAt };
  }

  it('writes a sample that moves the time, then skips the same one without a transaction', async () => {
    const { fleet, sample, lastActiveAt } = await oneInstance();
    const transactions = vi.spyOn(store(), 'transaction');
    fleet.clock.advance(5_000);
    const first = await fleet.heartbeat('node-a', 4, [sample(iso(START + 3_000))]);
    expect(first.body).toMatchObject({ activityUpdated: 1, recovered: false });
    expect(await lastActiveAt()).toBe(iso(START + 3_000));
    expect(transactions).toHaveBeenCalledTimes(1);

    // The idle instance reports the same time beat after beat: nothing is read or locked,
    // and the heartbeat itself is still recorded.
    for (let beat = 2; beat <= 4; beat += 1) {
      fleet.clock.advance(5_000);
      const same = await fleet.heartbeat('node-a', 4, [sample(iso(START + 3_000))]);
      expect(same.body).toMatchObject({
        activityUpdated: 0,
        node: { lastHeartbeat: iso(START + beat * 5_000) },
      });
    }
    // An earlier time cannot move it either.
    await fleet.heartbeat('node-a', 4, [sample(iso(START + 1_000))]);
    expect(transactions).toHaveBeenCalledTimes(1);
    expect(await lastActiveAt()).toBe(iso(START + 3_000));

    // A later one moves it.
    fleet.clock.advance(5_000);
    const later = await fleet.heartbeat('node-a', 4, [sample(iso(START + 24_000))]);
    expect(later.body).toMatchObject({ activityUpdated: 1 });
    expect(await lastActiveAt()).toBe(iso(START + 24_000));
    expect(transactions).toHaveBeenCalledTimes(2);
  });

  it('reads every sampled instance again once a minute', async () => {
    const { fleet, sample } = await oneInstance();
    fleet.clock.advance(5_000);
    await fleet.heartbeat('node-a', 4, [sample(iso(START + 3_000))]);
    const transactions = vi.spyOn(store(), 'transaction');
    fleet.clock.advance(30_000);
    await fleet.heartbeat('node-a', 4, [sample(iso(START + 3_000))]);
    expect(transactions).toHaveBeenCalledTimes(0);
    fleet.clock.advance(31_000);
    const again = await fleet.heartbeat('node-a', 4, [sample(iso(START + 3_000))]);
    expect(again.body).toMatchObject({ activityUpdated: 0 });
    expect(transactions).toHaveBeenCalledTimes(1);
  });

  it('recovers a lost node and records its activity on the full path', async () => {
    const { fleet, sample, lastActiveAt } = await oneInstance();
    await store().transaction(async (repos) => {
      const node = await repos.nodes.get('node-a');
      await repos.nodes.update('node-a', { status: 'lost' }, node?.version ?? 0);
    });
    fleet.clock.advance(5_000);
    const back = await fleet.heartbeat('node-a', 4, [sample(iso(START + 4_000))]);
    expect(back.body).toMatchObject({ recovered: true, activityUpdated: 1 });
    expect(await lastActiveAt()).toBe(iso(START + 4_000));
    expect(await fleet.ok('GET', '/nodes/node-a')).toMatchObject({ status: 'ready' });
  });
});

await describeEachDatabase('heartbeat: skipped activity writes keep the idle policy', (db) => {
  it('an idle instance beating the same time goes warm on time', async () => {
    const T0 = Date.parse('2026-03-01T09:00:00.000Z');
    const at = (secs: number) => new Date(T0 + secs * 1000).toISOString();
    const { clock, services, created } = await runningIdleWorker(db.store(), T0);
    const beat = (secs: number) => {
      clock.set(secs);
      return services.health.heartbeat('node-1', {
        capacity: node().capacity,
        usage: { vcpus: 1, memMib: 256, instances: { running: 1 }, diskFreeMib: 100 },
        instances: [{ tenant: 'acme', pool: 'web', instance: created.id, lastActiveAt: at(10) }],
      });
    };
    expect((await beat(12)).activityUpdated).toBe(1);
    const transactions = vi.spyOn(db.store(), 'transaction');
    for (let secs = 15; secs < 40; secs += 5) expect((await beat(secs)).activityUpdated).toBe(0);
    expect(transactions).not.toHaveBeenCalled();
    transactions.mockRestore();
    clock.set(39);
    expect((await services.idle.pass()).changed).toEqual([]);
    clock.set(40);
    expect((await services.idle.pass()).changed).toEqual([
      { instance: `acme/web/${created.id}`, to: 'warm', reason: 'idle-warm' },
    ]);
  });
});
