import { expect, it } from 'vitest';
import { T1, T2, node } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('node repo', ({ store }) => {
  it('registers nodes and lists them by id', async () => {
    expect(await store().nodes.upsert(node('node-b'))).toEqual(node('node-b'));
    await store().nodes.upsert(node('node-a', { labels: {} }));
    expect(await store().nodes.get('node-a')).toEqual(node('node-a', { labels: {} }));
    expect(await store().nodes.get('nope')).toBeUndefined();
    expect((await store().nodes.list()).map((n) => n.id)).toEqual(['node-a', 'node-b']);
  });

  it('refreshes an existing node, keeping its creation time and bumping its version', async () => {
    await store().nodes.upsert(node());
    const refreshed = node('node-1', {
      hostname: 'renamed',
      capacity: { vcpus: 64, memMib: 1, diskGib: 2 },
      labels: { zone: 'b' },
      status: 'cordoned',
      lastHeartbeat: T2,
      underlayIp: '192.168.50.7',
      usage: { vcpus: 3, memMib: 1536, instances: { running: 2, sleeping: 1 }, diskFreeMib: 900 },
      createdAt: T1,
    });
    const stored = await store().nodes.upsert(refreshed);
    expect(stored).toEqual({ ...refreshed, createdAt: node().createdAt, version: 2 });
    expect(await store().nodes.get('node-1')).toEqual(stored);
  });

  it('updates status, heartbeat, capacity and usage as a compare-and-set on version', async () => {
    await store().nodes.upsert(node());
    const usage = { vcpus: 2, memMib: 512, instances: { running: 1 }, diskFreeMib: 4096 };
    const updated = await store().nodes.update(
      'node-1',
      {
        status: 'lost',
        lastHeartbeat: T2,
        capacity: { vcpus: 4, memMib: 8192, diskGib: 9 },
        usage,
      },
      1,
    );
    expect(updated).toEqual({
      ...node(),
      status: 'lost',
      lastHeartbeat: T2,
      capacity: { vcpus: 4, memMib: 8192, diskGib: 9 },
      usage,
      version: 2,
    });
    expect(await store().nodes.get('node-1')).toEqual(updated);
    await expect(store().nodes.update('node-1', { status: 'ready' }, 1)).rejects.toMatchObject({
      code: 'conflict',
    });
    await expect(store().nodes.update('nope', { status: 'ready' }, 1)).rejects.toMatchObject({
      code: 'not_found',
    });
    expect((await store().nodes.get('node-1'))?.status).toBe('lost');
  });
});
