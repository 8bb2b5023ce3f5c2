import { expect, it } from 'vitest';
import type { Services } from '../../src/coordinator/services/index.ts';
import { SleepRecheckService } from '../../src/coordinator/services/sleep-rechecks.ts';
import type { Instance, Pool } from '../../src/core/model.ts';
import type { Store } from '../../src/ports/store.ts';
import { node } from '../db/fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { overriding, withRepos } from '../support/store-proxy.ts';
import {
  admin,
  instanceKey,
  manualClock as policyManualClock,
  policyCoordinator,
} from './support/policy-harness.ts';

const T0 = Date.parse('2025-03-01T09:00:00.000Z');
const iso = (secs: number) => new Date(T0 + secs * 1000).toISOString();
const manualClock = () => policyManualClock(T0);
const coordinator = policyCoordinator;

const ref = { tenantId: 'acme', poolId: 'web' };
const keyOf = instanceKey;

async function setup(services: Services, store: Store, policy = { run: 0, warm: 0 }) {
  await store.nodes.upsert(node('node-1'));
  await services.tenants.create(admin, { id: 'acme' });
  await services.pools.create(admin, 'acme', {
    id: 'web',
    role: 'worker',
    flake: '.',
    profile: 'minimal',
    vcpus: 1,
    memMib: 256,
    dataDiskMib: 64,
    pinned: false,
    critical: true,
    minRunningSecs: policy.run,
    minWarmSecs: policy.warm,
    idleWarmAfterSecs: 0,
    idleSleepAfterSecs: 0,
    servicePorts: [],
  });
}

/** Places every instance of the pool on node-1 and has the node report them running. */
async function runAll(services: Services, store: Store): Promise<Instance[]> {
  const out: Instance[] = [];
  for (const instance of await store.instances.list(ref)) {
    const placed = await store.instances.update(
      keyOf(instance),
      { nodeId: 'node-1' },
      instance.version,
      iso(0),
    );
    out.push(await services.instances.report('node-1', keyOf(placed), { status: 'running' }));
  }
  return out;
}

async function desiredById(store: Store): Promise<Record<string, string>> {
  const instances = await store.instances.list(ref);
  return Object.fromEntries(instances.map((i) => [i.id, i.desiredStatus]));
}

await describeEachDatabase('sleep policy in the coordinator', (db) => {
  it('demotes the coldest running instances on scale-down, by last activity', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store());
    await services.pools.scale(admin, 'acme', 'web', { running: 3 });
    const [a, b, c] = await runAll(services, db.store());
    if (!a || !b || !c) throw new Error('expected three instances');
    // b was active most recently, a a minute earlier, c never.
    await db.store().instances.update(keyOf(a), { lastActiveAt: iso(5) }, a.version, iso(5));
    await db.store().instances.update(keyOf(b), { lastActiveAt: iso(65) }, b.version, iso(65));
    clock.set(70);
    const result = await services.pools.scale(admin, 'acme', 'web', { running: 1, warm: 1 });
    expect(result.created).toEqual([]);
    expect(await desiredById(db.store())).toEqual({
      [a.id]: 'warm',
      [b.id]: 'running',
      [c.id]: 'stopped',
    });
  });

  it('puts off a demotion for the minimum running time and applies it once due', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { run: 120, warm: 0 });
    await services.pools.scale(admin, 'acme', 'web', { running: 1 });
    const [old] = await runAll(services, db.store());
    clock.set(100);
    await services.pools.scale(admin, 'acme', 'web', { running: 2 });
    const young = (await runAll(services, db.store())).find((i) => i.id !== old?.id);
    if (!old || !young) throw new Error('expected two instances');
    expect(young.statusSince).toBe(iso(100));

    clock.set(130);
    const down = await services.pools.scale(admin, 'acme', 'web', { running: 0 });
    // The old one has run for 130 s and goes; the young one (30 s) stays until 100 + 120.
    expect(down.changed.map((i) => [i.id, i.desiredStatus])).toEqual([[old.id, 'stopped']]);
    expect(await desiredById(db.store())).toEqual({ [old.id]: 'stopped', [young.id]: 'running' });

    clock.set(219);
    expect(await services.rechecks.runDue()).toEqual([]);
    expect((await desiredById(db.store()))[young.id]).toBe('running');

    clock.set(220);
    expect(await services.rechecks.runDue()).toEqual([ref]);
    expect(await desiredById(db.store())).toEqual({ [old.id]: 'stopped', [young.id]: 'stopped' });
    const [event] = await db.store().audit.list({ tenantId: 'acme', limit: 1 });
    expect(event).toMatchObject({ action: 'pool.recheck', actor: 'system:sleep-policy' });

    clock.set(400);
    expect(await services.rechecks.runDue()).toEqual([]);
  });

  it('does not demote on counts read before a scale that committed meanwhile', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { run: 120, warm: 0 });
    await services.pools.scale(admin, 'acme', 'web', { running: 2 });
    await runAll(services, db.store());
    clock.set(30);
    await services.pools.scale(admin, 'acme', 'web', { running: 1 });
    expect(Object.values(await desiredById(db.store()))).toEqual(['running', 'running']);
    // The re-check reads the pool (running: 1); a scale back to 2 commits before it writes.
    const stale = (await db.store().pools.get('acme', 'web')) as Pool;
    await services.pools.scale(admin, 'acme', 'web', { running: 2 });
    const store = db.store();
    const racing = withRepos(
      store,
      (repos) => ({ pools: overriding(repos.pools, { get: async () => stale }) }),
      'transactions',
    );
    clock.set(120);
    const rechecks = new SleepRecheckService({
      store: racing,
      clock,
      randomSuffix: () => 'x',
      clusterCidr: '10.240.0.0/12',
    });
    await expect(rechecks.recheckPool(ref)).rejects.toMatchObject({ code: 'conflict' });
    expect(Object.values(await desiredById(db.store()))).toEqual(['running', 'running']);
  });

  it('finds put-off demotions again after a restart', async () => {
    const clock = manualClock();
    const first = coordinator(db.store(), clock);
    await setup(first, db.store(), { run: 60, warm: 0 });
    await first.pools.scale(admin, 'acme', 'web', { running: 2 });
    await runAll(first, db.store());
    clock.set(10);
    await first.pools.scale(admin, 'acme', 'web', { running: 1 });
    await first.rechecks.close();

    const second = coordinator(await db.reopen(), clock);
    await second.rechecks.start();
    clock.set(60);
    expect(await second.rechecks.runDue()).toEqual([ref]);
    const statuses = Object.values(await desiredById(db.store())).sort();
    expect(statuses).toEqual(['running', 'stopped']);
  });

  it('re-checks at once when a minimum is shortened', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    await setup(services, db.store(), { run: 3600, warm: 0 });
    await services.pools.scale(admin, 'acme', 'web', { running: 2 });
    await runAll(services, db.store());
    clock.set(30);
    await services.pools.scale(admin, 'acme', 'web', { running: 1 });
    clock.set(100);
    expect(await services.rechecks.runDue()).toEqual([]);
    await services.pools.update(admin, 'acme', 'web', { minRunningSecs: 60 });
    expect(await services.rechecks.runDue()).toEqual([ref]);
    expect(Object.values(await desiredById(db.store())).sort()).toEqual(['running', 'stopped']);
  });

  it('stores the policy and changes it on update', async () => {
    const services = coordinator(db.store(), manualClock());
    await setup(services, db.store(), { run: 30, warm: 15 });
    expect(await db.store().pools.get('acme', 'web')).toMatchObject({
      minRunningSecs: 30,
      minWarmSecs: 15,
    });
    const updated = await services.pools.update(admin, 'acme', 'web', { minWarmSecs: 90 });
    expect(updated).toMatchObject({ minRunningSecs: 30, minWarmSecs: 90 });
  });
});
