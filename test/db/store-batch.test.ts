import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T1, node } from './fixtures.ts';

await describeEachDatabase('store batch', ({ name, store }) => {
  it('writes through its repos; one commit on SQLite, statement by statement on Postgres', async () => {
    await store().nodes.upsert(node('node-a'));
    const report = { nodeId: 'node-a', reportedAt: T1, disk: null, instances: [] };
    const usage = { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1 };
    const beat = { lastHeartbeat: T1, capacity: node().capacity, usage };
    expect(
      await store().batch(async (repos) => {
        await repos.nodeReports.put(report);
        return (await repos.nodes.beat('node-a', beat))?.version;
      }),
    ).toBe(2);
    expect(await store().nodeReports.get('node-a')).toEqual(report);

    const failed = store().batch(async (repos) => {
      await repos.nodes.beat('node-a', beat);
      throw new Error('stop');
    });
    await expect(failed).rejects.toThrow('stop');
    // SQLite rolled the beat back with its transaction; Postgres had already written it.
    expect((await store().nodes.get('node-a'))?.version).toBe(name === 'sqlite' ? 2 : 3);
  });
});
