import { expect, it } from 'vitest';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { spying, withRepos } from '../support/store-proxy.ts';
import { apiOver, type Api, ok, tenantWithWeb, twoNodes } from './api-client-harness.ts';

/**
 * What a full scheduling pass reads: every node, and what each node holds summed in the store
 * (under the locks of the tenants it places, sleeps or releases for). Pools and per-pool
 * allocations are read only for the tenants it places (placing-pass-pools.test.ts).
 */
const PASS_READS = ['nodes.list', 'nodes.loads'] as const;

/** The store, recording the repository calls made through its transactions. */
function countingPassReads(store: Store) {
  const calls: string[] = [];
  const counted = <T extends object>(repo: T, name: string): T =>
    spying(repo, {
      before: (method, [first]) => {
        // A filtered list (one tenant's pools) is the scale's own read, not the pass's.
        const filtered =
          typeof first === 'object' && first !== null && Object.keys(first).length > 0;
        calls.push(`${name}.${method}${filtered ? '(filtered)' : ''}`);
      },
    });
  const wrapped = withRepos(
    store,
    (repos) => ({
      nodes: counted(repos.nodes, 'nodes'),
      pools: counted(repos.pools, 'pools'),
      tenants: counted(repos.tenants, 'tenants'),
    }),
    'transactions',
  );
  const passReads = () => calls.filter((c) => (PASS_READS as readonly string[]).includes(c));
  return { store: wrapped, calls, passReads };
}

interface Row {
  id: string;
  nodeId: string | null;
  desiredStatus: string;
}

async function fleet(api: Api): Promise<void> {
  await twoNodes(api, { vcpus: 64, memMib: 65536, diskGib: 100 });
  await tenantWithWeb(api, 'acme', 3);
}

await describeEachDatabase('scheduler probe', (db) => {
  it('skips the full pass after a scale that leaves nothing to place, and runs it when one does', async () => {
    const counting = countingPassReads(db.store());
    const api = await apiOver(counting.store);
    await fleet(api);
    counting.calls.length = 0;
    const toggled = (await ok(api, 'POST', '/tenants/acme/pools/web/scale', {
      running: 2,
      warm: 1,
    })) as { changed: Row[] };
    expect(toggled.changed.map((i) => i.desiredStatus)).toEqual(['warm']);
    // The scale itself ran (it locked its tenant, with its pools' read); the pass read nothing
    // of the fleet.
    expect(counting.calls).toContain('pools.lockedWithMembers');
    expect(counting.passReads()).toEqual([]);
    expect(counting.calls).not.toContain('tenants.lockAll');

    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 3, warm: 1 });
    expect(counting.passReads()).toEqual(expect.arrayContaining([...PASS_READS]));
    // Placement locks the tenant it places for, not every tenant.
    expect(counting.calls).not.toContain('tenants.lockAll');
    const rows = (await ok(api, 'GET', '/instances?tenant=acme')) as Row[];
    expect(rows).toHaveLength(4);
    expect(rows.filter((i) => i.nodeId === null)).toEqual([]);
  });

  it('runs the full pass while an instance is held asleep by pressure, and releases it', async () => {
    const store = db.store();
    const counting = countingPassReads(store);
    const api = await apiOver(counting.store);
    await fleet(api);
    const { changed } = (await ok(api, 'POST', '/tenants/acme/pools/web/scale', {
      running: 2,
      warm: 1,
    })) as { changed: Row[] };
    const key = { tenantId: 'acme', poolId: 'web', instanceId: changed[0]?.id ?? '' };
    const warm = await store.instances.get(key);
    if (!warm) throw new Error('the scale made no instance warm');
    expect(await store.instances.anyPressureHeld()).toBe(false);
    const at = '2026-11-21T23:00:00.000Z';
    await store.instances.update(
      key,
      { desiredStatus: 'sleeping', pressureSleptAt: at },
      warm.version,
      at,
    );
    expect(await store.instances.anyPressureHeld()).toBe(true);
    counting.calls.length = 0;
    // Nothing is unplaced: the held instance alone makes the pass worth running.
    await ok(api, 'POST', '/scheduler/run');
    expect(counting.passReads()).toEqual(expect.arrayContaining([...PASS_READS]));
    // Release changes the held instance's tenant only: that tenant is locked, not every one.
    expect(counting.calls).not.toContain('tenants.lockAll');
    expect(counting.calls).toContain('tenants.lock');
    expect(await store.instances.get(key)).toMatchObject({
      desiredStatus: 'warm',
      pressureSleptAt: null,
    });
    expect(await store.instances.anyPressureHeld()).toBe(false);
  });
});
