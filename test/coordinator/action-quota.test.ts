import { expect, it } from 'vitest';
import type { Instance, Pool } from '../../src/core/model.ts';
import { tenantUsage } from '../../src/core/quotas.ts';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { type Api, apiOver, errorCode, ok } from './api-client-harness.ts';

/**
 * An instance action weighs the tenant's quotas from the store's counts (docs/scale.md,
 * "Quotas and relief read what they touch"): the same statements whatever the tenant holds,
 * none reading its instances row by row; refusals as exact as when every instance was read,
 * also for parallel actions through two replicas.
 */

const size = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 128 };
const big = { maxRunning: 1000, maxWarm: 1000, maxVcpus: 1000, maxMemMib: 1_000_000 };

async function world(api: Api, quotas: Record<string, number> = big): Promise<void> {
  const capacity = { vcpus: 1000, memMib: 1_000_000, diskGib: 1000 };
  await ok(api, 'PUT', '/nodes/node-0', { hostname: 'node-0', arch: 'x86_64', capacity });
  await ok(api, 'POST', '/tenants', { id: 'acme', quotas: { ...big, maxInstancesPerPool: 100 } });
  await ok(api, 'POST', '/tenants/acme/pools', { id: 'web', ...size });
  await ok(api, 'PATCH', '/tenants/acme', { quotas });
}

const scale = (api: Api, pool: string, counts: Record<string, number>) =>
  ok(api, 'POST', `/tenants/acme/pools/${pool}/scale`, counts);

const act = (api: Api, id: string, action: string) =>
  api.call('POST', `/tenants/acme/pools/web/instances/${id}/actions`, { body: { action } });

async function webIds(store: Store): Promise<string[]> {
  return (await store.instances.list({ tenantId: 'acme', poolId: 'web' })).map((i) => i.id).sort();
}

/** The usage `mvm tenant get` shows, computed here from every instance read one by one. */
function expectedUsage(pools: readonly Pool[], instances: readonly Instance[]) {
  const usage = tenantUsage(pools, instances);
  const count = Object.values(usage.instancesByPool).reduce((a, b) => a + b, 0);
  const { running, warm, vcpus, memMib, diskGib } = usage;
  return { running, warm, vcpus, memMib, diskGib, pools: pools.length, instances: count };
}

async function expectUsageAsStored(api: Api, store: Store): Promise<void> {
  const shown = (await ok(api, 'GET', '/tenants/acme')) as { usage: unknown };
  const pools = await store.pools.list({ tenantId: 'acme' });
  const instances = await store.instances.list({ tenantId: 'acme' });
  expect(shown.usage).toEqual(expectedUsage(pools, instances));
}

/** A statement reading instance rows of a whole tenant, or of the whole fleet. */
const wideRead = (sql: string) =>
  /^select \* from "instances"/.test(sql) &&
  !/"pool_id" = |"node_id" (is null|= )|"id" = /.test(sql);

await describeEachDatabase('instance action quotas', (db) => {
  it('runs the same statements for a start and a stop whatever the tenant holds', async () => {
    const statements: string[] = [];
    const store = await openStore(db.url(), {
      tokenCacheMs: 600_000,
      onQuery: (sql) => statements.push(sql.replace(/\s+/g, ' ')),
    });
    try {
      const api = await apiOver(store);
      await world(api);
      await scale(api, 'web', { running: 2 });
      await scale(api, 'web', { running: 1 });
      await ok(api, 'POST', '/tenants/acme/pools', { id: 'api', ...size });
      const stopped = (await store.instances.list({ tenantId: 'acme' })).find(
        (i) => i.desiredStatus === 'stopped',
      );
      if (!stopped) throw new Error('no stopped instance');
      const toggle = async () => {
        const run: string[][] = [];
        for (const action of ['start', 'stop']) {
          statements.length = 0;
          const answer = await act(api, stopped.id, action);
          expect(answer.status).toBe(200);
          run.push([...statements]);
        }
        return run;
      };
      const small = await toggle();
      // The tenant grows: 60 more instances in another pool, and more in this one.
      await scale(api, 'api', { running: 40, warm: 10, sleeping: 10 });
      await scale(api, 'web', { running: 1, sleeping: 8 });
      expect((await store.instances.list({ tenantId: 'acme' })).length).toBeGreaterThan(65);
      const large = await toggle();

      expect(large).toEqual(small);
      expect(large.flat().filter(wideRead)).toEqual([]);
      expect(large.flat().some((sql) => /count\(\*\)/.test(sql))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('refuses exactly what the quotas forbid, writes nothing then, and shows the same usage', async () => {
    const store = db.store();
    const api = await apiOver(store);
    await world(api);
    await scale(api, 'web', { running: 5 });
    await scale(api, 'web', { running: 0 });
    // Two running, one warm, and memory for three: 5 stopped instances to raise.
    await ok(api, 'PATCH', '/tenants/acme', {
      quotas: { maxRunning: 2, maxWarm: 1, maxMemMib: 3 * 128 },
    });
    const [a, b, c, d] = await webIds(store);
    if (!a || !b || !c || !d) throw new Error('expected five instances');
    const refused = async (id: string, action: string, what: RegExp) => {
      const before = await store.instances.get({ tenantId: 'acme', poolId: 'web', instanceId: id });
      const answer = await act(api, id, action);
      expect([answer.status, errorCode(answer)]).toEqual([422, 'quota_exceeded']);
      expect(JSON.stringify(answer.body)).toMatch(what);
      const after = await store.instances.get({ tenantId: 'acme', poolId: 'web', instanceId: id });
      expect(after).toEqual(before);
    };

    expect((await act(api, a, 'start')).status).toBe(200);
    expect((await act(api, b, 'start')).status).toBe(200);
    await refused(c, 'start', /running 3 > max 2/);
    // A running instance made warm frees its slot: c starts, and d still may not.
    expect((await act(api, b, 'warm')).status).toBe(200);
    expect((await act(api, c, 'start')).status).toBe(200);
    await refused(d, 'start', /running 3 > max 2/);
    // Warm: one slot, taken by b; a third instance holding RAM is over memory too.
    await refused(a, 'warm', /warm 2 > max 1/);
    expect((await act(api, a, 'sleep')).status).toBe(200);
    expect((await act(api, d, 'start')).status).toBe(200);
    await refused(a, 'wake', /running 3 > max 2.*memory MiB 512 > max 384/);
    // A start of an instance already running weighs nothing new.
    expect((await act(api, d, 'start')).status).toBe(200);
    await expectUsageAsStored(api, store);
    expect((await store.instances.list({ tenantId: 'acme' })).map((i) => i.desiredStatus)).toEqual([
      'sleeping',
      'warm',
      'running',
      'running',
      'stopped',
    ]);
  });

  it('never passes a quota under parallel actions through two replicas', async () => {
    if (db.name !== 'postgres') return;
    const one = await apiOver(db.store());
    const other = await db.reopen();
    const two = await apiOver(other);
    await world(one);
    await scale(one, 'web', { running: 12 });
    await scale(one, 'web', { running: 0 });
    await ok(one, 'PATCH', '/tenants/acme', { quotas: { maxRunning: 5 } });
    const ids = await webIds(db.store());
    const answers = await Promise.all(
      ids.map((id, i) => act(i % 2 === 0 ? one : two, id, 'start')),
    );
    const statuses = answers.map((a) => (a.status === 200 ? 'ok' : errorCode(a)));
    expect(statuses.filter((s) => s === 'ok')).toHaveLength(5);
    expect(statuses.filter((s) => s === 'quota_exceeded')).toHaveLength(7);
    const running = (await db.store().instances.list({ tenantId: 'acme' })).filter(
      (i) => i.desiredStatus === 'running',
    );
    expect(running).toHaveLength(5);
    await expectUsageAsStored(one, db.store());
  });
});
