import { expect, it } from 'vitest';
import type { InstanceFilter, Repos, Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, ok, tenantWithWeb, twoNodes } from './api-client-harness.ts';

/** `target` whose method `name` first hands its arguments to `seen`. */
function spying<T extends object>(target: T, name: string, seen: (args: unknown[]) => void): T {
  return new Proxy(target, {
    get(object, prop) {
      const value: unknown = Reflect.get(object, prop, object);
      if (typeof value !== 'function') return value;
      const method = (value as (...args: unknown[]) => unknown).bind(object);
      if (prop !== name) return method;
      return (...args: unknown[]) => {
        seen(args);
        return method(...args);
      };
    },
  });
}

/**
 * The store, recording every read of instances made through it or its transactions: lists by
 * their filter, a pool's members (alone or beside the tenant's pools) by their tenant.
 */
function recordingListings(store: Store) {
  const listings: InstanceFilter[] = [];
  const allocationReads: Array<{ tenantIds?: readonly string[] | undefined }> = [];
  const recorded = (repos: Repos): Repos => ({
    ...repos,
    nodes: spying(repos.nodes, 'allocations', ([filter]) =>
      allocationReads.push((filter ?? {}) as { tenantIds?: readonly string[] }),
    ),
    pools: spying(repos.pools, 'withMembers', ([tenantId]) =>
      listings.push({ tenantId: tenantId as string }),
    ),
    instances: spying(
      spying(repos.instances, 'list', ([filter]) =>
        listings.push((filter ?? {}) as InstanceFilter),
      ),
      'poolMembers',
      ([tenantId]) => listings.push({ tenantId: tenantId as string }),
    ),
  });
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'transaction') {
        return <T>(fn: (repos: Repos) => Promise<T>) =>
          target.transaction((repos) => fn(recorded(repos)));
      }
      if (prop === 'instances') return recorded(target).instances;
      if (prop === 'nodes') return recorded(target).nodes;
      if (prop === 'pools') return recorded(target).pools;
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
