import { expect, it } from 'vitest';
import type { Instance } from '../../src/core/model.ts';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  apiOver,
  fixedClock,
  type Api,
  ok,
  tenantWithWeb,
  twoNodes,
} from './api-client-harness.ts';

/**
 * Scales of different tenants do not wait on each other in the store (docs/scale.md, "The
 * scale's write path"): with one tenant's scale held open after all its writes but the
 * marks and the commit (its tenant row, pool, instance, node load row and audit event
 * written), another tenant's toggle, scale up with placement and scale down all complete.
 * Postgres only: SQLite has one writer at a time by design.
 */

async function fleet(api: Api): Promise<void> {
  await twoNodes(api, { vcpus: 64, memMib: 65536, diskGib: 100 });
  // acme and beta land on different stripes of a node's load rows (hashtext & 15: 14, 11).
  for (const tenant of ['acme', 'beta']) await tenantWithWeb(api, tenant, 2);
}

/** acme's scale to one running, held open before its marks and commit until `release`. */
function openScale(store: Store) {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let wrote = (_: Instance) => {};
  const written = new Promise<Instance>((resolve) => (wrote = resolve));
  const done = store.transaction(async (repos) => {
    await repos.tenants.lock('acme');
    const pool = (await repos.pools.get('acme', 'web'))!;
    const counts = { running: 1, warm: 0, sleeping: 0 };
    await repos.pools.update(
      'acme',
      'web',
      { counts },
      pool.version,
      fixedClock.now().toISOString(),
    );
    const [first] = await repos.instances.list({ tenantId: 'acme', poolId: 'web' });
    const key = { tenantId: 'acme', poolId: 'web', instanceId: first!.id };
    const at = fixedClock.now().toISOString();
    const stopped = await repos.instances.setDesired(key, 'stopped', first!.version, at);
    await repos.audit.append({
      tenantId: 'acme',
      at,
      actor: 'admin',
      action: 'pool.scale',
      target: 'acme/web',
      detail: {},
    });
    wrote(stopped);
    await released;
  });
  return { release, written, done };
}

await describeEachDatabase('scale concurrency', (db) => {
  it.skipIf(db.name !== 'postgres')(
    "lets another tenant's scales through while one tenant's scale is in flight",
    async () => {
      const store = db.store();
      const api = await apiOver(store);
      await fleet(api);
      const held = openScale(store);
      try {
        const acmeStopped = await held.written;
        expect(acmeStopped.desiredStatus).toBe('stopped');
        // beta: a toggle, a scale up that needs placement, a scale down (a node load change).
        await ok(api, 'POST', '/tenants/beta/pools/web/scale', { running: 1, warm: 1 });
        await ok(api, 'POST', '/tenants/beta/pools/web/scale', { running: 3, warm: 0 });
        await ok(api, 'POST', '/tenants/beta/pools/web/scale', { running: 1 });
        const beta = await store.instances.list({ tenantId: 'beta', poolId: 'web' });
        expect(beta.map((i) => i.desiredStatus).sort()).toEqual(['running', 'stopped', 'stopped']);
        expect(beta.filter((i) => i.nodeId === null)).toEqual([]);
        // acme's own scale still waits for the open one (its tenant's lock).
        let acmeAnswered = false;
        const acme = api
          .call('POST', '/tenants/acme/pools/web/scale', { body: { running: 2 } })
          .then((answer) => {
            acmeAnswered = true;
            return answer;
          });
        await new Promise((r) => setTimeout(r, 200));
        expect(acmeAnswered).toBe(false);
        held.release();
        await held.done;
        expect((await acme).status).toBe(200);
      } finally {
        held.release();
        await held.done.catch(() => {});
      }
      // The open scale committed: acme's loads and beta's add up on the nodes.
      const loads = await store.nodes.loads();
      const vcpus = loads.reduce((a, l) => a + l.vcpus, 0);
      const running = (await store.instances.list()).filter(
        (i) => i.nodeId !== null && (i.desiredStatus === 'running' || i.desiredStatus === 'warm'),
      );
      expect(vcpus).toBe(running.length);
    },
  );

  it.skipIf(db.name !== 'postgres')(
    'ends concurrent scales of one pool from two stores in the last count, each one a version and an event',
    async () => {
      const first = db.store();
      const second = await openStore(db.url());
      try {
        const apis = [await apiOver(first), await apiOver(second)];
        await twoNodes(apis[0]!, { vcpus: 64, memMib: 65536, diskGib: 100 });
        await tenantWithWeb(apis[0]!, 'acme', 3);
        const before = (await first.pools.get('acme', 'web'))!;
        const events = async () =>
          (await first.audit.list({ tenantId: 'acme', limit: 1000 })).filter(
            (e) => e.action === 'pool.scale',
          ).length;
        const eventsBefore = await events();
        const rounds = 8;
        // Each store toggles the pool back and forth, both at once (its own connections).
        await Promise.all(
          apis.map(async (api, k) => {
            for (let r = 0; r < rounds; r += 1) {
              const warm = (r + k) % 2;
              await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 3 - warm, warm });
            }
          }),
        );
        const after = (await first.pools.get('acme', 'web'))!;
        expect(after.version).toBe(before.version + 2 * rounds);
        expect(await events()).toBe(eventsBefore + 2 * rounds);
        const instances = await first.instances.list({ tenantId: 'acme', poolId: 'web' });
        const count = (status: string) =>
          instances.filter((i) => i.desiredStatus === status).length;
        expect({ running: count('running'), warm: count('warm') }).toEqual({
          running: after.counts.running,
          warm: after.counts.warm,
        });
        expect(instances).toHaveLength(3);
        expect(instances.filter((i) => i.nodeId === null)).toEqual([]);
        // A stale expected version is refused whichever store asks.
        const stale = await apis[1]!.call('POST', '/tenants/acme/pools/web/scale', {
          body: { running: 3, warm: 0, expectedVersion: before.version },
        });
        expect(stale.status).toBe(409);
        expect((await first.pools.get('acme', 'web'))!.version).toBe(after.version);
      } finally {
        await second.close();
      }
    },
  );
});
