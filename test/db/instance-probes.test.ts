import { beforeEach, expect, it } from 'vitest';
import { desiredStatuses } from '../../src/core/model.ts';
import type { DesiredStatus } from '../../src/core/model.ts';
import { T1, instance, keyOf, insertTwoTenants } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('instance probes', ({ store }) => {
  beforeEach(() => insertTwoTenants(store()));

  it("counts a tenant's live instances by pool and desired status, as grouping its rows would", async () => {
    let host = 10;
    const add = async (tenantId: string, poolId: string, desiredStatus: DesiredStatus) => {
      host += 1;
      const mac = `02:00:0a:f0:${tenantId === 'acme' ? '63' : '64'}:${host.toString(16)}`;
      await store().instances.insert(
        instance(`i-${host}`, host, { tenantId, poolId, desiredStatus, mac }),
      );
    };
    const plan: Array<[string, string, DesiredStatus, number]> = [
      ['acme', 'workers', 'running', 3],
      ['acme', 'workers', 'warm', 2],
      ['acme', 'workers', 'destroyed', 2],
      ['acme', 'gateways', 'sleeping', 1],
      ['acme', 'gateways', 'stopped', 2],
      ['beta', 'workers', 'running', 4],
    ];
    for (const [tenantId, poolId, desired, n] of plan) {
      for (let i = 0; i < n; i += 1) await add(tenantId, poolId, desired);
    }
    const grouped = async (tenantId: string, except?: string) => {
      const counts = new Map<string, number>();
      for (const i of await store().instances.list({ tenantId })) {
        if (i.desiredStatus === 'destroyed' || i.poolId === except) continue;
        const key = `${i.poolId}/${i.desiredStatus}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      return counts;
    };
    const asMap = (rows: Array<{ poolId: string; desiredStatus: string; count: number }>) =>
      new Map(rows.map((r) => [`${r.poolId}/${r.desiredStatus}`, r.count]));

    const acme = await store().instances.desiredCounts('acme');
    expect(asMap(acme)).toEqual(await grouped('acme'));
    expect(asMap(acme)).toEqual(
      new Map([
        ['gateways/sleeping', 1],
        ['gateways/stopped', 2],
        ['workers/running', 3],
        ['workers/warm', 2],
      ]),
    );
    for (const row of acme) expect(desiredStatuses).toContain(row.desiredStatus);
    const others = await store().instances.desiredCounts('acme', { exceptPoolId: 'workers' });
    expect(asMap(others)).toEqual(await grouped('acme', 'workers'));
    expect(asMap(await store().instances.desiredCounts('beta'))).toEqual(
      new Map([['workers/running', 4]]),
    );
    expect(await store().instances.desiredCounts('nobody')).toEqual([]);
  });

  it('says a pass has work for an unplaced live instance or one held asleep, and only then', async () => {
    expect(await store().instances.schedulerWork()).toBe(false);
    const placed = instance('w-1', 11, { nodeId: 'node-1' });
    await store().instances.insert(placed);
    // A destroyed instance on no node is nobody's work.
    await store().instances.insert(instance('w-2', 12, { desiredStatus: 'destroyed' }));
    expect(await store().instances.schedulerWork()).toBe(false);

    const unplaced = instance('w-3', 13);
    await store().instances.insert(unplaced);
    expect(await store().instances.schedulerWork()).toBe(true);
    await store().instances.update(keyOf(unplaced), { nodeId: 'node-1' }, 1, T1);
    expect(await store().instances.schedulerWork()).toBe(false);

    await store().instances.update(keyOf(placed), { pressureSleptAt: T1 }, 1, T1);
    expect(await store().instances.anyPressureHeld()).toBe(true);
    expect(await store().instances.schedulerWork()).toBe(true);
    await store().instances.update(keyOf(placed), { pressureSleptAt: null }, 2, T1);
    expect(await store().instances.schedulerWork()).toBe(false);
  });
});
