import { expect, it } from 'vitest';
import { T1, T2, node } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

const usage = { vcpus: 2, memMib: 1024, instances: { running: 2 }, diskFreeMib: 500 };
const capacity = node().capacity;

await describeEachDatabase('node repo: the one-statement heartbeat', ({ store }) => {
  it('records time and usage and bumps the version of a ready or cordoned node', async () => {
    await store().nodes.upsert(node('node-a'));
    await store().nodes.upsert(node('node-b', { status: 'cordoned', underlayIp: '192.0.2.2' }));
    const a = await store().nodes.beat('node-a', { lastHeartbeat: T1, capacity, usage });
    expect(a).toEqual(node('node-a', { lastHeartbeat: T1, usage, version: 2 }));
    const b = await store().nodes.beat('node-b', {
      lastHeartbeat: T2,
      capacity,
      usage,
      underlayIp: '192.0.2.2',
    });
    expect(b).toMatchObject({ status: 'cordoned', lastHeartbeat: T2, version: 2 });
    expect(await store().nodes.get('node-b')).toEqual(b);
  });

  it('changes nothing for an unknown or lost node, another capacity or another underlay', async () => {
    await store().nodes.upsert(node('node-a', { underlayIp: '192.0.2.1' }));
    await store().nodes.upsert(node('node-l', { status: 'lost' }));
    const beat = { lastHeartbeat: T1, capacity, usage };
    expect(await store().nodes.beat('ghost', beat)).toBeUndefined();
    expect(await store().nodes.beat('node-l', beat)).toBeUndefined();
    for (const other of [{ vcpus: 31 }, { memMib: 1024 }, { diskGib: 1 }] as Array<
      Partial<typeof capacity>
    >) {
      const moved = { ...beat, capacity: { ...capacity, ...other } };
      expect(await store().nodes.beat('node-a', moved)).toBeUndefined();
    }
    expect(await store().nodes.beat('node-a', { ...beat, underlayIp: '192.0.2.9' })).toBe(
      undefined,
    );
    expect(await store().nodes.get('node-a')).toEqual(node('node-a', { underlayIp: '192.0.2.1' }));
    expect(await store().nodes.get('node-l')).toEqual(node('node-l', { status: 'lost' }));
    // The underlay it has, or none given: it applies.
    expect(await store().nodes.beat('node-a', { ...beat, underlayIp: '192.0.2.1' })).toMatchObject({
      version: 2,
    });
    expect(await store().nodes.beat('node-a', beat)).toMatchObject({ version: 3 });
  });
});
