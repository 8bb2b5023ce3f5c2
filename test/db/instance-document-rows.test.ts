import { setFlagsFromString } from 'node:v8';
import { expect, it } from 'vitest';
import { withRequestId } from '../../src/drivers/request-context.ts';
import { instance, pool, tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('instance document rows', ({ store }) => {
  it('reads what list() and lastRequestIds() give for a node, in one statement', async () => {
    await store().tenants.insert(tenant('acme', 99));
    await store().tenants.insert(tenant('beta', 98));
    await store().pools.insert(pool('acme', 'workers'));
    await store().pools.insert(pool('beta', 'workers'));
    const placed = [
      instance('w-2', 12, { nodeId: 'node-1', status: 'running', desiredStatus: 'warm' }),
      instance('w-1', 11, {
        nodeId: 'node-1',
        desiredStatus: 'sleeping',
        sleepForced: true,
        pinnedRevision: 'r7',
        pinnedAt: '2025-01-01T00:00:00.000Z',
      }),
      instance('w-3', 13, { nodeId: 'node-2' }),
      instance('w-4', 14),
      instance('w-1', 21, { tenantId: 'beta', nodeId: 'node-1', mac: '02:00:00:00:00:01' }),
    ];
    for (const [n, i] of placed.entries()) {
      // Some were written by a request: their document entry names it.
      const write = () => store().instances.insert(i);
      await (n % 2 === 0 ? withRequestId(`req-${n}`, write) : write());
    }
    for (const nodeId of ['node-1', 'node-2', 'node-9']) {
      const rows = await store().instances.documentRows(nodeId);
      const listed = await store().instances.list({ nodeId });
      expect(rows.instances).toEqual(
        listed.map((i) => ({
          tenantId: i.tenantId,
          poolId: i.poolId,
          id: i.id,
          ip: i.ip,
          mac: i.mac,
          status: i.status,
          desiredStatus: i.desiredStatus,
          nodeId: i.nodeId,
          ...(i.sleepForced ? { sleepForced: true } : {}),
          ...(i.pinnedRevision ? { pinnedRevision: i.pinnedRevision } : {}),
        })),
      );
      expect(rows.requestIds).toEqual(await store().instances.lastRequestIds(nodeId));
    }
    const node1 = await store().instances.documentRows('node-1');
    expect(node1.instances.map((i) => `${i.tenantId}/${i.id}`)).toEqual([
      'acme/w-1',
      'acme/w-2',
      'beta/w-1',
    ]);
    expect([...node1.requestIds.keys()].sort()).toEqual(['acme/workers/w-2', 'beta/workers/w-1']);
  });

  it('gives rows of one key set one hidden class, read in full or as changes (each is kept)', async () => {
    await store().tenants.insert(tenant('acme', 99));
    await store().pools.insert(pool('acme', 'workers'));
    for (const n of [1, 2, 3, 4]) {
      await store().instances.insert(
        instance(`w-${n}`, 10 + n, { nodeId: 'node-1', status: 'running' }),
      );
    }
    const full = (await store().instances.documentRows('node-1')).instances;
    const changed = (await store().instances.documentChanges(0, 100))?.rows.map((r) => r.instance);
    const rows = [...full, ...(changed ?? [])];
    expect(rows).toHaveLength(8);
    // `{ ...identity, nodeId }` gave every row a map of its own (~300 bytes each, kept per node).
    expect(rows.every((r) => sameMap(r, rows[0]))).toBe(true);
  });
});

/** V8's own answer; the natives flag is set for the function compiled after it. */
function sameMap(a: object, b: object | undefined): boolean {
  setFlagsFromString('--allow-natives-syntax');
  const check = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (
    x: object,
    y: unknown,
  ) => boolean;
  return check(a, b);
}
