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
});
