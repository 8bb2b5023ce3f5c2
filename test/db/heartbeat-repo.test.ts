import { expect, it } from 'vitest';
import type { InstanceSample } from '../../src/contract/node-report.ts';
import type { NodeBeat } from '../../src/ports/store.ts';
import { countPgStatements } from '../support/pg-statements.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T1, T2, node } from './fixtures.ts';

const usage = { vcpus: 2, memMib: 1024, instances: { running: 2 }, diskFreeMib: 500 };
const capacity = node().capacity;
const beat = (at = T1): NodeBeat => ({ lastHeartbeat: at, capacity, usage });
const sample = (instance: string, cpuPermille = 10): InstanceSample => ({
  tenant: 'acme',
  pool: 'web',
  instance,
  cpuPermille,
});
const whole = (nodeId: string, instances: InstanceSample[], at = T1) => ({
  nodeId,
  reportedAt: at,
  disk: null,
  instances,
});

await describeEachDatabase('heartbeat repo: the common heartbeat in one go', ({ name, store }) => {
  it('beats the node, writes a whole report and answers the generation', async () => {
    await store().nodes.upsert(node('node-a'));
    const first = await store().heartbeats.beat('node-a', beat(), {
      whole: whole('node-a', [sample('i2'), sample('i1')]),
      sequence: { epoch: 'run-1', seq: 1 },
    });
    expect(first).toEqual({
      node: node('node-a', { lastHeartbeat: T1, usage, version: 2 }),
      kept: true,
      generation: 0,
    });
    expect(await store().nodeReports.get('node-a')).toEqual(
      whole('node-a', [sample('i1'), sample('i2')]),
    );
    await store().generations.bump('node-a', 'digest-1', T1);
    await store().generations.bump('node-a', 'digest-2', T1);
    const second = await store().heartbeats.beat('node-a', beat(T2), {
      whole: whole('node-a', [sample('i3')], T2),
    });
    expect(second).toMatchObject({ kept: true, generation: 2, node: { version: 3 } });
    expect(await store().nodeReports.get('node-a')).toEqual(whole('node-a', [sample('i3')], T2));
  });

  it('merges a delta on its base, and keeps nothing of one on another base', async () => {
    await store().nodes.upsert(node('node-a'));
    await store().nodeReports.put(whole('node-a', [sample('i1'), sample('i2')]), {
      epoch: 'run-1',
      seq: 1,
    });
    const delta = (seq: number, base: number, changed: InstanceSample[]) => ({
      delta: {
        nodeId: 'node-a',
        reportedAt: T2,
        epoch: 'run-1',
        seq,
        base,
        changed,
        removed: [{ tenant: 'acme', pool: 'web', instance: 'i1' }],
      },
    });
    const merged = await store().heartbeats.beat('node-a', beat(T2), delta(2, 1, [sample('i3')]));
    expect(merged).toMatchObject({ kept: true, node: { lastHeartbeat: T2, version: 2 } });
    const after = whole('node-a', [sample('i2'), sample('i3')], T2);
    expect(await store().nodeReports.get('node-a')).toEqual(after);

    // Base 1 is gone: the node still beats, the report stays as it was.
    const stale = await store().heartbeats.beat('node-a', beat(T2), delta(3, 1, [sample('i9')]));
    expect(stale).toMatchObject({ kept: false, node: { version: 3 } });
    expect(await store().nodeReports.get('node-a')).toEqual(after);
  });

  it('writes nothing, report included, for an unknown, lost or resized node', async () => {
    await store().nodes.upsert(node('node-l', { status: 'lost' }));
    await store().nodes.upsert(node('node-a'));
    const report = (id: string) => ({ whole: whole(id, [sample('i1')]) });
    expect(await store().heartbeats.beat('ghost', beat(), report('ghost'))).toBeUndefined();
    expect(await store().heartbeats.beat('node-l', beat(), report('node-l'))).toBeUndefined();
    const resized = { ...beat(), capacity: { ...capacity, vcpus: capacity.vcpus + 1 } };
    expect(await store().heartbeats.beat('node-a', resized, report('node-a'))).toBeUndefined();
    for (const id of ['ghost', 'node-l', 'node-a']) {
      expect(await store().nodeReports.get(id)).toBeUndefined();
    }
    expect(await store().nodes.get('node-l')).toEqual(node('node-l', { status: 'lost' }));
    expect(await store().nodes.get('node-a')).toEqual(node('node-a'));
  });

  it.skipIf(name !== 'postgres')('is one statement on Postgres', async () => {
    await store().nodes.upsert(node('node-a'));
    const counter = countPgStatements();
    const done = await store().batch((repos) =>
      repos.heartbeats.beat('node-a', beat(), { whole: whole('node-a', [sample('i1')]) }),
    );
    expect(done?.kept).toBe(true);
    expect(counter.count()).toBe(1);
  });
});
