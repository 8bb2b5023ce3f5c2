import { expect, it } from 'vitest';
import type { Services } from '../../src/coordinator/services/index.ts';
import type { Instance } from '../../src/core/model.ts';
import type { Store } from '../../src/ports/store.ts';
import { node } from '../db/fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { spying, withRepos } from '../support/store-proxy.ts';
import { admin, instanceKey, manualClock, policyCoordinator } from './support/policy-harness.ts';

/**
 * A scheduling pass under memory pressure reads what relief and release need (the held
 * instances, the warm candidates when relief has work, per-node totals from the store, and the
 * releasing tenants' instances for quotas), not every live instance of the fleet, and locks
 * only the tenants it may change, never every tenant.
 */
const T0 = Date.parse('2026-03-01T09:00:00.000Z');

interface Call {
  call: string;
  args: unknown[];
  rows: number;
}

/** The store, recording instance and tenant repository calls and the rows each returned. */
function recording(store: Store) {
  const calls: Call[] = [];
  const counted = <T extends object>(repo: T, name: string): T =>
    spying(repo, {
      after: (method, args, answer) => {
        const rows = Array.isArray(answer) ? answer.length : 0;
        calls.push({ call: `${name}.${method}`, args, rows });
      },
    });
  const wrapped = withRepos(store, (repos) => ({
    instances: counted(repos.instances, 'instances'),
    tenants: counted(repos.tenants, 'tenants'),
  }));
  const instanceRows = () =>
    calls.filter((c) => c.call.startsWith('instances.')).reduce((sum, c) => sum + c.rows, 0);
  const locked = () => calls.filter((c) => c.call === 'tenants.lock').map((c) => c.args[0]);
  return { store: wrapped, calls, instanceRows, locked };
}

async function pool(
  services: Services,
  tenant: string,
  vcpus: number,
  critical = false,
  memMib = 256,
) {
  await services.tenants.create(admin, { id: tenant });
  await services.pools.create(admin, tenant, {
    id: 'web',
    role: 'worker',
    vcpus,
    memMib,
    dataDiskMib: 64,
    pinned: false,
    critical,
    minRunningSecs: 0,
    minWarmSecs: 0,
    idleWarmAfterSecs: 0,
    idleSleepAfterSecs: 0,
    servicePorts: [],
  });
}

/** The node observes what it was told: every placed instance reported at its desired status. */
async function settle(services: Services, store: Store, tenantId: string): Promise<void> {
  for (const i of await store.instances.list({ tenantId })) {
    if (i.nodeId === null || i.desiredStatus === 'destroyed') continue;
    await services.instances.report(i.nodeId, instanceKey(i), { status: i.desiredStatus });
  }
}

const FLEET = 30;

await describeEachDatabase('pressure pass reads', (db) => {
  it('releases a held instance reading the held and its tenant only, locking that tenant', async () => {
    const rec = recording(db.store());
    const services = policyCoordinator(rec.store, manualClock(T0));
    await rec.store.nodes.upsert(
      node('node-1', { capacity: { vcpus: 64, memMib: 65536, diskGib: 100 } }),
    );
    await pool(services, 'bulk', 1);
    await services.pools.scale(admin, 'bulk', 'web', { running: FLEET });
    await pool(services, 'acme', 1);
    const { created } = await services.pools.scale(admin, 'acme', 'web', { running: 1, warm: 1 });
    const warm = created.find((i) => i.desiredStatus === 'warm');
    if (!warm) throw new Error('the scale made no warm instance');
    const at = new Date(T0).toISOString();
    const current = (await db.store().instances.get(instanceKey(warm))) as Instance;
    await db
      .store()
      .instances.update(
        instanceKey(warm),
        { desiredStatus: 'sleeping', pressureSleptAt: at },
        current.version,
        at,
      );
    rec.calls.length = 0;
    await services.scheduler.schedule();
    expect(await db.store().instances.get(instanceKey(warm))).toMatchObject({
      desiredStatus: 'warm',
      pressureSleptAt: null,
    });
    expect(rec.calls.map((c) => c.call)).not.toContain('tenants.lockAll');
    expect(rec.locked()).toEqual(['acme']);
    // No listing of every instance; rows read: the held one and acme's 2 for its quotas (the
    // probes aside), nothing of bulk's 30.
    expect(rec.calls.filter((c) => c.call === 'instances.list' && c.args.length === 0)).toEqual([]);
    expect(rec.instanceRows()).toBeLessThanOrEqual(4);
  });

  it('sleeps a victim for a critical instance reading the warm candidates, not the fleet', async () => {
    const rec = recording(db.store());
    const services = policyCoordinator(rec.store, manualClock(T0));
    await rec.store.nodes.upsert(
      node('node-1', { capacity: { vcpus: 4, memMib: 65536, diskGib: 100 } }),
    );
    // A fleet of sleeping instances on the node (they hold no vCPUs), and acme filling it.
    await pool(services, 'bulk', 1);
    await services.pools.scale(admin, 'bulk', 'web', { running: 0, sleeping: FLEET });
    await pool(services, 'acme', 1);
    await services.pools.scale(admin, 'acme', 'web', { running: 2, warm: 2 });
    await settle(services, db.store(), 'acme');
    await pool(services, 'crit', 1, true);
    rec.calls.length = 0;
    await services.pools.scale(admin, 'crit', 'web', { running: 1 });

    const [critical] = await db.store().instances.list({ tenantId: 'crit' });
    expect(critical?.nodeId).toBe('node-1');
    const acme = await db.store().instances.list({ tenantId: 'acme' });
    const slept = acme.filter((i) => i.pressureSleptAt !== null);
    expect(slept).toHaveLength(1);
    expect(slept[0]?.desiredStatus).toBe('sleeping');
    expect(rec.calls.map((c) => c.call)).not.toContain('tenants.lockAll');
    expect(new Set(rec.locked())).toEqual(new Set(['crit', 'acme']));
    expect(rec.calls.filter((c) => c.call === 'instances.list' && c.args.length === 0)).toEqual([]);
    // The scale's own reads (crit's pool), the unplaced, the 2 warm candidates twice (read,
    // then again under acme's lock): far below the fleet's 34 instances.
    expect(rec.instanceRows()).toBeLessThan(FLEET / 2);
  });

  it('reads warm candidates only on the nodes that could hold the wanting instance', async () => {
    const rec = recording(db.store());
    const services = policyCoordinator(rec.store, manualClock(T0));
    const capacity = (memMib: number) => ({ capacity: { vcpus: 64, memMib, diskGib: 100 } });
    await rec.store.nodes.upsert(node('node-big', capacity(8192)));
    await pool(services, 'acme', 1, false, 2048);
    await services.pools.scale(admin, 'acme', 'web', { running: 0, warm: 4 });
    // A node too small for the critical instance, full of warm instances of another tenant.
    await rec.store.nodes.upsert(node('node-small', capacity(4096)));
    await pool(services, 'bulk', 1);
    await services.pools.scale(admin, 'bulk', 'web', { running: 0, warm: 15 });
    await settle(services, db.store(), 'acme');
    await settle(services, db.store(), 'bulk');
    const bulk = await db.store().instances.list({ tenantId: 'bulk' });
    expect(bulk.every((i) => i.nodeId === 'node-small' && i.status === 'warm')).toBe(true);
    await pool(services, 'crit', 1, true, 6000);
    rec.calls.length = 0;
    await services.pools.scale(admin, 'crit', 'web', { running: 1 });

    const [critical] = await db.store().instances.list({ tenantId: 'crit' });
    expect(critical?.nodeId).toBe('node-big');
    const acme = await db.store().instances.list({ tenantId: 'acme' });
    expect(acme.filter((i) => i.pressureSleptAt !== null)).toHaveLength(3);
    const warmReads = rec.calls.filter((c) => c.call === 'instances.listWarmOn');
    expect(warmReads.map((c) => c.args[0])).toEqual([['node-big'], ['node-big']]);
    expect(warmReads.map((c) => c.rows)).toEqual([4, 4]);
    expect(new Set(rec.locked())).toEqual(new Set(['crit', 'acme']));
  });
});
