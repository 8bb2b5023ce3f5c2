import { expect, it } from 'vitest';
import type { buildNodeDocument } from '../../src/core/desired-doc.ts';
import { revisionIdOf } from '../../src/contract/revisions.ts';
import type { RevisionManifest } from '../../src/core/revision.ts';
import type { RolloutView } from '../../src/contract/rollouts.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, type Fleet, type InstanceJson } from './node-health-harness.ts';

/**
 * Rollouts on the coordinator (SQLite and Postgres), through the API, with the nodes played by
 * the test: status reports and heartbeat samples as an agent sends them. The rollout loop's
 * step (`tickAll`) is called by the test, on a manual clock.
 */
const artifact = (n: number) => ({ sha256: n.toString(16).padStart(64, '0'), bytes: 1 });

function manifest(cmdline: string): RevisionManifest {
  return {
    schema: 'mvm.revision/v1',
    kernel: artifact(1),
    initrd: null,
    rootfs: artifact(2),
    rootfsFormat: 'ext4',
    cmdline,
    initDrive: 'node',
    workload: null,
    runSpec: null,
  } as RevisionManifest;
}

async function addRevision(store: Store, cmdline: string): Promise<string> {
  const m = manifest(cmdline);
  const id = revisionIdOf(m);
  await store.revisions.insert({
    tenantId: 'acme',
    poolId: 'web',
    id,
    manifest: m,
    source: { kind: 'dev', devImage: 'd'.repeat(64) },
    log: null,
    builtBy: 'admin',
    buildMs: 1,
    createdAt: '2026-11-22T00:00:00.000Z',
  });
  return id;
}

interface World {
  fleet: Fleet;
  r1: string;
  r2: string;
  instances: InstanceJson[];
}

/** Two running instances of acme/web on node-a, both on r1. */
async function world(store: Store): Promise<World> {
  const fleet = await fleetOver(store);
  await fleet.registerNode('node-a', 8);
  await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
  await fleet.ok('POST', '/tenants/acme/pools', { id: 'web', vcpus: 1, memMib: 256 });
  const r1 = await addRevision(store, 'one');
  const r2 = await addRevision(store, 'two');
  await fleet.ok('PATCH', '/tenants/acme/pools/web', { revision: r1 });
  await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 2 });
  const instances = (await fleet.instances('?tenant=acme')).sort((a, b) =>
    a.id.localeCompare(b.id),
  );
  for (const i of instances) await boot(fleet, i, r1);
  return { fleet, r1, r2, instances };
}

const statusPath = (i: InstanceJson) =>
  `/nodes/node-a/instances/${i.tenantId}/${i.poolId}/${i.id}/status`;

/** What an agent reports when it (re)boots an instance on `revision`. */
async function boot(fleet: Fleet, i: InstanceJson, revision: string): Promise<void> {
  await fleet.ok('PUT', statusPath(i), { status: 'running', revision });
}

/** The node's heartbeat: each instance's sample (revision and workload). */
async function beat(
  fleet: Fleet,
  samples: Array<{
    i: InstanceJson;
    revision: string;
    workload?: { state: string; restarts: number };
  }>,
): Promise<void> {
  const answer = await fleet.heartbeat(
    'node-a',
    8,
    samples.map(({ i, revision, workload }) => ({
      tenant: i.tenantId,
      pool: i.poolId,
      instance: i.id,
      status: 'running',
      revision,
      ...(workload ? { workload } : {}),
    })),
  );
  expect(answer.status).toBe(200);
}

const rollout = async (fleet: Fleet) =>
  ((await fleet.ok('GET', '/tenants/acme/pools/web')) as { rollout: RolloutView | null }).rollout;

const pins = async (fleet: Fleet) =>
  (await fleet.instances('?tenant=acme'))
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((i) => (i as InstanceJson & { pinnedRevision?: string | null }).pinnedRevision ?? null);

const actions = async (fleet: Fleet) =>
  ((await fleet.ok('GET', '/events?tenant=acme&last=1000')) as Array<{ action: string }>)
    .map((e) => e.action)
    .filter((a) => a.startsWith('rollout.'))
    // Newest first on the wire: oldest first here.
    .reverse();

/** The revisions node-a's document pins its instances to, by id. */
async function documentPins(fleet: Fleet): Promise<Record<string, string | null>> {
  const issued = await fleet.services.desired.issue('node-a');
  const doc = JSON.parse(issued.envelope.payload) as ReturnType<typeof buildNodeDocument>;
  const out: Record<string, string | null> = {};
  for (const i of doc.tenants.flatMap((t) => t.pools.flatMap((p) => p.instances))) {
    out[i.id] = i.revision ?? null;
  }
  return out;
}

await describeEachDatabase('rollouts', ({ store }) => {
  it('replaces the canary first, then the rest, and is done when all report the new revision ready', async () => {
    const { fleet, r1, r2, instances } = await world(store());
    const [a, b] = instances as [InstanceJson, InstanceJson];
    const started = (await fleet.ok('POST', '/tenants/acme/pools/web/rollout', {
      revision: r2,
      canary: 1,
      maxUnavailable: 1,
    })) as RolloutView;
    expect(started).toMatchObject({ state: 'running', from: r1, to: r2, target: r2 });
    expect(started.progress).toEqual({ total: 2, ready: 0, replacing: 1 });
    expect(await pins(fleet)).toEqual([r2, null]);
    expect(await documentPins(fleet)).toEqual({ [a.id]: r2, [b.id]: null });
    expect(
      ((await fleet.ok('GET', '/tenants/acme/pools/web')) as { revision: string }).revision,
    ).toBe(r2);

    // While it runs: a second rollout and a change of revision are refused, and change nothing.
    const again = await fleet.call('POST', '/tenants/acme/pools/web/rollout', { revision: r1 });
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).toContain('already has a rollout running');
    expect((await fleet.call('PATCH', '/tenants/acme/pools/web', { revision: r1 })).status).toBe(
      409,
    );

    // The canary boots r2 but its workload is not sampled yet: no batch.
    await boot(fleet, a, r2);
    await fleet.services.rollouts.tickAll();
    expect(await pins(fleet)).toEqual([r2, null]);
    await beat(fleet, [
      { i: a, revision: r2, workload: { state: 'running', restarts: 0 } },
      { i: b, revision: r1, workload: { state: 'running', restarts: 0 } },
    ]);
    await fleet.services.rollouts.tickAll();
    expect(await pins(fleet)).toEqual([r2, r2]);
    expect((await rollout(fleet))?.canariesDone).toBe(true);

    await boot(fleet, b, r2);
    await beat(fleet, [
      { i: a, revision: r2, workload: { state: 'running', restarts: 0 } },
      { i: b, revision: r2, workload: { state: 'running', restarts: 0 } },
    ]);
    await fleet.services.rollouts.tickAll();
    const done = await rollout(fleet);
    expect(done).toMatchObject({ state: 'done', progress: { total: 2, ready: 2, replacing: 0 } });
    expect(done?.finishedAt).not.toBeNull();
    expect(await pins(fleet)).toEqual([null, null]);
    expect(
      (await fleet.instances('?tenant=acme')).map(
        (i) => (i as InstanceJson & { revision?: string }).revision,
      ),
    ).toEqual([r2, r2]);
    expect(await actions(fleet)).toEqual([
      'rollout.started',
      'rollout.batch',
      'rollout.batch',
      'rollout.done',
    ]);

    // pool rollback returns to r1 the same way, without a canary.
    const back = (await fleet.ok('POST', '/tenants/acme/pools/web/rollback')) as RolloutView;
    expect(back).toMatchObject({
      state: 'rolling-back',
      target: r1,
      reason: 'rolled back by admin:admin',
    });
    expect(await pins(fleet)).toEqual([r1, null]);
    await boot(fleet, a, r1);
    await beat(fleet, [
      { i: a, revision: r1 },
      { i: b, revision: r2 },
    ]);
    await fleet.services.rollouts.tickAll();
    await boot(fleet, b, r1);
    await beat(fleet, [
      { i: a, revision: r1 },
      { i: b, revision: r1 },
    ]);
    await fleet.services.rollouts.tickAll();
    expect(await rollout(fleet)).toMatchObject({ state: 'rolled-back', target: r1 });
    expect(
      ((await fleet.ok('GET', '/tenants/acme/pools/web')) as { revision: string }).revision,
    ).toBe(r1);
    // Nothing more to go back to.
    expect((await fleet.call('POST', '/tenants/acme/pools/web/rollback')).status).toBe(409);
  });

  it('a canary that crash-loops turns the rollout back by itself; the others are never touched', async () => {
    const { fleet, r1, r2, instances } = await world(store());
    const [a, b] = instances as [InstanceJson, InstanceJson];
    await fleet.ok('POST', '/tenants/acme/pools/web/rollout', { revision: r2, canary: 1 });
    await boot(fleet, a, r2);
    await beat(fleet, [
      { i: a, revision: r2, workload: { state: 'backoff', restarts: 3 } },
      { i: b, revision: r1, workload: { state: 'running', restarts: 0 } },
    ]);
    await fleet.services.rollouts.tickAll();
    const turned = await rollout(fleet);
    expect(turned).toMatchObject({ state: 'rolling-back', target: r1 });
    expect(turned?.reason).toContain('restarted 3 times');
    expect(
      ((await fleet.ok('GET', '/tenants/acme/pools/web')) as { revision: string }).revision,
    ).toBe(r1);
    await fleet.services.rollouts.tickAll();
    expect(await pins(fleet)).toEqual([r1, null]);
    await boot(fleet, a, r1);
    await beat(fleet, [
      { i: a, revision: r1 },
      { i: b, revision: r1 },
    ]);
    await fleet.services.rollouts.tickAll();
    expect(await rollout(fleet)).toMatchObject({ state: 'rolled-back' });
    expect(await pins(fleet)).toEqual([null, null]);
    expect(await actions(fleet)).toEqual([
      'rollout.started',
      'rollout.batch',
      'rollout.canary-failed',
      'rollout.rolling-back',
      'rollout.batch',
      'rollout.rolled-back',
    ]);
  });

  it('after a rollout that turned back by itself, pool rollback returns to the revision before', async () => {
    const { fleet, r1, r2, instances } = await world(store());
    const r3 = await addRevision(store(), 'three');
    const [a, b] = instances as [InstanceJson, InstanceJson];
    const running = { state: 'running', restarts: 0 };
    await fleet.ok('POST', '/tenants/acme/pools/web/rollout', {
      revision: r2,
      canary: 0,
      maxUnavailable: 2,
    });
    for (const i of [a, b]) await boot(fleet, i, r2);
    await beat(fleet, [
      { i: a, revision: r2, workload: running },
      { i: b, revision: r2, workload: running },
    ]);
    await fleet.services.rollouts.tickAll();
    expect(await rollout(fleet)).toMatchObject({ state: 'done', previous: null });
    await fleet.ok('POST', '/tenants/acme/pools/web/rollout', { revision: r3, canary: 1 });
    expect(await rollout(fleet)).toMatchObject({ from: r2, to: r3, previous: r1 });
    await boot(fleet, a, r3);
    await beat(fleet, [{ i: a, revision: r3, workload: { state: 'backoff', restarts: 3 } }]);
    await fleet.services.rollouts.tickAll();
    await fleet.services.rollouts.tickAll();
    await boot(fleet, a, r2);
    await beat(fleet, [
      { i: a, revision: r2, workload: running },
      { i: b, revision: r2, workload: running },
    ]);
    await fleet.services.rollouts.tickAll();
    expect(await rollout(fleet)).toMatchObject({ state: 'rolled-back', target: r2 });
    const back = (await fleet.ok('POST', '/tenants/acme/pools/web/rollback')) as RolloutView;
    expect(back).toMatchObject({ state: 'rolling-back', from: r1, to: r2, target: r1 });
    expect(await pins(fleet)).toEqual([r1, null]);
    expect(
      ((await fleet.ok('GET', '/tenants/acme/pools/web')) as { revision: string }).revision,
    ).toBe(r1);
  });

  it('a canary never ready within the deadline fails it; unknown revisions are 404 and change nothing', async () => {
    const { fleet, r1, r2 } = await world(store());
    const missing = await fleet.call('POST', '/tenants/acme/pools/web/rollout', {
      revision: 'e'.repeat(64),
    });
    expect(missing.status).toBe(404);
    expect(await rollout(fleet)).toBeNull();
    expect((await fleet.call('POST', '/tenants/acme/pools/web/rollback')).status).toBe(409);
    await fleet.ok('POST', '/tenants/acme/pools/web/rollout', {
      revision: r2,
      readyTimeoutSecs: 60,
    });
    fleet.clock.advance(61_000);
    await fleet.services.rollouts.tickAll();
    const failed = await rollout(fleet);
    expect(failed).toMatchObject({ state: 'rolling-back', target: r1 });
    expect(failed?.reason).toContain('not ready on the new revision within 60s');
  });
});
