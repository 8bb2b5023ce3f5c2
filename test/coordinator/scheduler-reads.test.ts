import { expect, it } from 'vitest';
import type { InstanceFilter, Repos, Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, ok, tenantWithWeb, twoNodes } from './api-client-harness.ts';

/** The store, recording every instance listing made through it or its transactions. */
function recordingListings(store: Store) {
  const listings: InstanceFilter[] = [];
  const allocationReads: Array<{ tenantIds?: readonly string[] | undefined }> = [];
  const recorded = (repos: Repos): Repos => ({
    ...repos,
    nodes: new Proxy(repos.nodes, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (prop !== 'allocations' || typeof value !== 'function') {
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        }
        return (filter: { tenantIds?: readonly string[] } = {}) => {
          allocationReads.push(filter);
          return target.allocations(filter);
        };
      },
    }),
    instances: new Proxy(repos.instances, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (prop !== 'list' || typeof value !== 'function') {
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        }
        return (filter: InstanceFilter = {}) => {
          listings.push(filter);
          return target.list(filter);
        };
      },
    }),
  });
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'transaction') {
        return <T>(fn: (repos: Repos) => Promise<T>) =>
          target.transaction((repos) => fn(recorded(repos)));
      }
      if (prop === 'instances') return recorded(target).instances;
      if (prop === 'nodes') return recorded(target).nodes;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return { store: wrapped, listings, allocationReads };
}

await describeEachDatabase('scheduler reads', (db) => {
  it("places a scale without listing the fleet or another tenant's instances", async () => {
    const recording = recordingListings(db.store());
    const api = await apiOver(recording.store);
    await twoNodes(api, { vcpus: 64, memMib: 65536, diskGib: 100 });
    for (const tenant of ['acme', 'beta']) await tenantWithWeb(api, tenant, 3);
    recording.listings.length = 0;
    recording.allocationReads.length = 0;
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 5 });
    const instances = (await ok(api, 'GET', '/instances?tenant=acme')) as Array<{
      nodeId: string | null;
    }>;
    // The two new instances were placed, spread over both nodes (per-node counts were read).
    expect(instances.filter((i) => i.nodeId === null)).toEqual([]);
    expect(new Set(instances.map((i) => i.nodeId)).size).toBe(2);
    const during = recording.listings.slice(0, -1);
    expect(during.length).toBeGreaterThan(0);
    for (const filter of during) expect(filter.tenantId).toBe('acme');
    // Per-pool counts only for the tenant being placed: not one row per node, tenant and pool
    // of the fleet (what nodes hold comes summed from the store, nodes.loads()).
    expect(recording.allocationReads.length).toBeGreaterThan(0);
    for (const filter of recording.allocationReads) expect(filter.tenantIds).toEqual(['acme']);
  });
});
