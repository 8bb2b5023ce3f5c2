import { expect, it } from 'vitest';
import type { InstanceFilter, Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { spying, withRepos } from '../support/store-proxy.ts';
import { apiOver, ok, tenantWithWeb, twoNodes } from './api-client-harness.ts';

/**
 * The store, recording every read of instances made through it or its transactions: lists by
 * their filter, a pool's members (alone or beside the tenant's pools) by their tenant.
 */
function recordingListings(store: Store) {
  const listings: InstanceFilter[] = [];
  const allocationReads: Array<{ tenantIds?: readonly string[] | undefined }> = [];
  const before =
    (seen: (arg: unknown) => void) =>
    (_: string, [first]: unknown[]) =>
      seen(first);
  const listed = (filter: unknown) => listings.push((filter ?? {}) as InstanceFilter);
  const ofTenant = (tenantId: unknown) => listings.push({ tenantId: tenantId as string });
  const wrapped = withRepos(store, (repos) => ({
    nodes: spying(
      repos.nodes,
      { before: before((f) => allocationReads.push((f ?? {}) as { tenantIds?: string[] })) },
      ['allocations'],
    ),
    pools: spying(repos.pools, { before: before(ofTenant) }, ['withMembers', 'lockedWithMembers']),
    instances: spying(
      spying(repos.instances, { before: before(listed) }, ['list']),
      { before: before(ofTenant) },
      ['poolMembers'],
    ),
  }));
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
