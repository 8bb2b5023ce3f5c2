import { expect, it } from 'vitest';
import { ReportDeltas } from '../../src/agent/heartbeat/report-deltas.ts';
import type { HeartbeatResult } from '../../src/contract/heartbeat.ts';
import type { InstanceSample } from '../../src/contract/node-report.ts';
import { mergeSamples, sortSamples } from '../../src/core/report-delta.ts';
import { EXACT_SAMPLES } from '../../src/core/sample-tolerance.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { node } from '../db/fixtures.ts';
import { fleetOver, type Fleet } from './node-health-harness.ts';
import { runningIdleWorker } from './support/policy-harness.ts';

type Json = Record<string, unknown>;
const EPOCH = 'run-1';

const sample = (instance: string, cpuPermille = 10, status = 'running'): InstanceSample => ({
  tenant: 'acme',
  pool: 'web',
  instance,
  status: status as InstanceSample['status'],
  cpuPermille,
});

async function fleetWithNode(fleet: Fleet): Promise<Fleet> {
  await fleet.registerNode('node-a', 8);
  return fleet;
}

function beat(fleet: Fleet, instances: InstanceSample[], report?: Json) {
  return fleet.call('POST', '/nodes/node-a/heartbeat', {
    capacity: fleet.capacity(8),
    usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1000 },
    instances,
    ...(report ? { report } : {}),
  });
}

async function stored(fleet: Fleet): Promise<InstanceSample[]> {
  return ((await fleet.ok('GET', '/nodes/node-a/report')) as { instances: InstanceSample[] })
    .instances;
}

const three = [sample('i1'), sample('i2'), sample('i3')];

await describeEachDatabase('delta heartbeats', ({ store, reopen, url }) => {
  it('says it takes deltas, merges one, and removes an instance a delta names', async () => {
    const fleet = await fleetWithNode(await fleetOver(store()));
    const plain = await beat(fleet, three);
    expect(plain.body).toMatchObject({ deltas: true });
    expect(plain.body).not.toHaveProperty('fullReport');
    expect((await beat(fleet, three, { epoch: EPOCH, seq: 1 })).status).toBe(200);

    const changed = [sample('i2', 400), sample('i4')];
    const removed = [{ tenant: 'acme', pool: 'web', instance: 'i3' }];
    const delta = await beat(fleet, changed, { epoch: EPOCH, seq: 2, base: 1, removed });
    expect(delta.status).toBe(200);
    expect(delta.body).not.toHaveProperty('fullReport');
    const expected = mergeSamples(three, { changed, removed });
    expect(await stored(fleet)).toEqual(expected);
    expect((await stored(fleet)).map((s) => s.instance)).toEqual(['i1', 'i2', 'i4']);

    // A delta with nothing changed keeps the report and moves the base on.
    expect((await beat(fleet, [], { epoch: EPOCH, seq: 3, base: 2 })).body).not.toHaveProperty(
      'fullReport',
    );
    expect(await stored(fleet)).toEqual(expected);
    // A sample replaces the stored one whole: a field it no longer has is gone.
    const bare = { tenant: 'acme', pool: 'web', instance: 'i1' };
    await beat(fleet, [bare], { epoch: EPOCH, seq: 4, base: 3 });
    expect((await stored(fleet))[0]).toEqual(bare);
  });

  it('asks for a whole report on a gap, another run, or no base, and changes nothing', async () => {
    const fleet = await fleetWithNode(await fleetOver(store()));
    // No report at all yet.
    const none = await beat(fleet, [sample('i1', 5)], { epoch: EPOCH, seq: 2, base: 1 });
    expect(none.body).toMatchObject({ deltas: true, fullReport: true });
    expect(await stored(fleet)).toEqual([]);

    await beat(fleet, three, { epoch: EPOCH, seq: 5 });
    // A beat was lost (the stored report is 5; this delta builds on 4).
    const gap = await beat(fleet, [sample('i1', 99)], { epoch: EPOCH, seq: 7, base: 4 });
    expect(gap.body).toMatchObject({ fullReport: true });
    // Another run of the agent (restarted) building on this run's number.
    const other = await beat(fleet, [sample('i1', 99)], { epoch: 'run-2', seq: 6, base: 5 });
    expect(other.body).toMatchObject({ fullReport: true });
    expect(await stored(fleet)).toEqual(three);
    // Heartbeats still count as signs of life.
    expect((gap.body as Json).node).toMatchObject({ status: 'ready' });

    // A late whole report of the same run does not overwrite a later one...
    const later = [sample('i1', 1)];
    await beat(fleet, later, { epoch: EPOCH, seq: 8 });
    await beat(fleet, three, { epoch: EPOCH, seq: 6 });
    expect(await stored(fleet)).toEqual(later);
    // ...and a delta on the replaced base is refused once the report moved on.
    expect((await beat(fleet, [], { epoch: EPOCH, seq: 9, base: 5 })).body).toMatchObject({
      fullReport: true,
    });
    // An old agent's plain whole report replaces it and leaves no base for any delta.
    await beat(fleet, three);
    expect(await stored(fleet)).toEqual(three);
    expect((await beat(fleet, [], { epoch: EPOCH, seq: 10, base: 8 })).body).toMatchObject({
      fullReport: true,
    });
  });

  it('merges nothing onto samples a replica from before 0034 wrote as an array', async () => {
    const fleet = await fleetWithNode(await fleetOver(store()));
    await beat(fleet, three, { epoch: EPOCH, seq: 1 });
    // An older replica's whole report: samples as an array, the sequence left as it was.
    const { db } = openDatabase(url());
    try {
      await db
        .updateTable('node_reports')
        .set({ instances: JSON.stringify([sample('i9')]) })
        .where('node_id', '=', 'node-a')
        .execute();
    } finally {
      await db.destroy();
    }
    const delta = await beat(fleet, [sample('i1', 7)], { epoch: EPOCH, seq: 2, base: 1 });
    expect(delta.body).toMatchObject({ fullReport: true });
    expect(await stored(fleet)).toEqual([sample('i9')]);
  });

  it('refuses a malformed delta with 400 and keeps the report', async () => {
    const fleet = await fleetWithNode(await fleetOver(store()));
    await beat(fleet, three, { epoch: EPOCH, seq: 1 });
    const removed = [{ tenant: 'acme', pool: 'web', instance: 'i1' }];
    for (const report of [
      { epoch: EPOCH, seq: 2, base: 2 },
      { epoch: EPOCH, seq: 2, removed },
      { epoch: '', seq: 2, base: 1 },
      { epoch: EPOCH, seq: 0 },
    ]) {
      expect((await beat(fleet, [], report)).status).toBe(400);
    }
    expect(await stored(fleet)).toEqual(three);
  });

  it('merges deltas after a coordinator restart and on another replica', async () => {
    const first = await fleetWithNode(await fleetOver(store()));
    await beat(first, three, { epoch: EPOCH, seq: 1 });
    // A new coordinator over the same database (a restart), and a second store connection
    // (another replica): the base lives in the store, so both merge.
    const restarted = await fleetOver(store());
    await beat(restarted, [sample('i1', 500)], { epoch: EPOCH, seq: 2, base: 1 });
    const replica = await fleetOver(await reopen());
    const answer = await beat(replica, [sample('i2', 600)], { epoch: EPOCH, seq: 3, base: 2 });
    expect(answer.body).not.toHaveProperty('fullReport');
    expect(await stored(first)).toEqual(
      sortSamples([sample('i1', 500), sample('i2', 600), sample('i3')]),
    );
  });

  it("keeps the report equal to the whole one, beat after beat, with the agent's deltas", async () => {
    const fleet = await fleetWithNode(await fleetOver(store()));
    const deltas = new ReportDeltas({
      epoch: EPOCH,
      policy: { everyBeats: 1_000 },
      tolerance: EXACT_SAMPLES,
    });
    let samples = Array.from({ length: 20 }, (_, n) => sample(`i${n}`));
    let sent = 0;
    let asked = 0;
    const send = async () => {
      const part = deltas.next(samples, undefined);
      sent += part.instances.length;
      const answer = await beat(fleet, part.instances, part.report);
      if (deltas.answered(answer.body as HeartbeatResult)) asked += 1;
    };
    await send(); // plain, learns deltas
    await send(); // whole, sequenced
    sent = 0;
    for (let n = 0; n < 30; n += 1) {
      // One sample changes, one instance goes and another comes every few beats.
      samples = samples.map((s, i) => (i === n % 20 ? { ...s, cpuPermille: n } : s));
      if (n % 7 === 6) samples = [...samples.slice(1), sample(`new${n}`)];
      await send();
      expect(await stored(fleet)).toEqual(sortSamples([...samples]));
    }
    expect(asked).toBe(0);
    // About two samples a beat, not twenty.
    expect(sent).toBeLessThan(30 * 3);
  });
});

await describeEachDatabase('delta heartbeats keep the idle policy', (db) => {
  it('an idle instance absent from every delta goes warm on time; a busy one moves its time', async () => {
    const T0 = Date.parse('2026-03-01T09:00:00.000Z');
    const at = (secs: number) => new Date(T0 + secs * 1000).toISOString();
    const { clock, services, created } = await runningIdleWorker(db.store(), T0);
    const deltas = new ReportDeltas({ epoch: EPOCH, now: () => clock.now().getTime() });
    const beatAt = async (secs: number, lastActive: number) => {
      clock.set(secs);
      const whole = [
        { tenant: 'acme', pool: 'web', instance: created.id, lastActiveAt: at(lastActive) },
      ];
      const part = deltas.next(whole, undefined);
      const result = await services.health.heartbeat('node-1', {
        capacity: node().capacity,
        usage: { vcpus: 1, memMib: 256, instances: { running: 1 }, diskFreeMib: 100 },
        ...part,
      });
      deltas.answered(result);
      return { result, part };
    };
    expect((await beatAt(6, 5)).result.activityUpdated).toBe(1);
    expect((await beatAt(8, 5)).part.report).toEqual({ epoch: EPOCH, seq: 1 });
    for (let secs = 10; secs < 20; secs += 2) {
      const { part, result } = await beatAt(secs, 5);
      expect(part.instances).toEqual([]);
      expect(result.fullReport).toBeUndefined();
    }
    // Busy again: the delta carries the new time and it is recorded.
    const busy = await beatAt(20, 19);
    expect(busy.part.instances).toHaveLength(1);
    expect(busy.result.activityUpdated).toBe(1);
    for (let secs = 22; secs < 49; secs += 2) await beatAt(secs, 19);
    clock.set(48);
    expect((await services.idle.pass()).changed).toEqual([]);
    clock.set(49);
    expect((await services.idle.pass()).changed).toEqual([
      { instance: `acme/web/${created.id}`, to: 'warm', reason: 'idle-warm' },
    ]);
  });
});
