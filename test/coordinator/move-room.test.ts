import { expect, it } from 'vitest';
import type { Services } from '../../src/coordinator/services/index.ts';
import type { InstanceMove } from '../../src/core/instance-move.ts';
import type { Instance } from '../../src/core/model.ts';
import type { MoveReport } from '../../src/contract/moves.ts';
import type { Store } from '../../src/ports/store.ts';
import { node } from '../db/fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  admin,
  instanceKey,
  manualClock,
  plainWebTenant,
  policyCoordinator,
} from './support/policy-harness.ts';

/**
 * A move that wakes its instance on the target (`--wake`, a drain's `restore`) reserves the
 * target's room from the moment it is accepted (migration 0046: counted in the store's node
 * loads while the move is under way), so placement and every other raise count it during the
 * transfer; the reservation ends in the write that ends the move: the hand-over (which counts
 * the instance itself there, checked under the scheduler's lock like every raise,
 * services/raise-room.ts) or its failure. A target whose room shrank meanwhile lets it land
 * asleep, waiting for room (`instance.raise-waiting`). Parallel requests, hand-overs and a
 * raise through two replicas never overcommit the target.
 */
const T0 = Date.parse('2026-03-01T09:00:00.000Z');

const hex = (c: string) => c.repeat(64);
const manifest = {
  format: 'mvm-move-bundle/1' as const,
  compression: 'gzip' as const,
  parts: [
    { name: 'snapshot.vmstate', bytes: 300, sha256: hex('a'), rawBytes: 900, rawSha256: hex('b') },
  ],
};

const throughImport: Array<[string, MoveReport]> = [
  ['node-1', { kind: 'start' }],
  ['node-1', { kind: 'exported', manifest }],
  ['node-2', { kind: 'received', part: 'snapshot.vmstate', bytes: 300 }],
];
const imported: [string, MoveReport] = ['node-2', { kind: 'imported' }];

async function carry(services: Services, move: InstanceMove, reports: Array<[string, MoveReport]>) {
  let last = move;
  for (const [nodeId, report] of reports) {
    last = await services.moveReports.report(admin, nodeId, move.id, report);
  }
  return last;
}

const tenant = (services: Services, id: string) => plainWebTenant(services, id);

const scale = (services: Services, tenantId: string, counts: Record<string, number>) =>
  services.pools.scale(admin, tenantId, 'web', counts);

const capacity = (vcpus: number) => ({ capacity: { vcpus, memMib: 65536, diskGib: 100 } });

/** A tenant's one instance, placed running, then asleep (its node says so too). */
async function asleep(services: Services, store: Store, tenantId: string): Promise<Instance> {
  await tenant(services, tenantId);
  await scale(services, tenantId, { running: 1 });
  const [placed] = await store.instances.list({ tenantId });
  if (!placed?.nodeId) throw new Error(`${tenantId}'s instance was not placed`);
  await scale(services, tenantId, { running: 0, sleeping: 1 });
  return services.instances.report(placed.nodeId, instanceKey(placed), { status: 'sleeping' });
}

/** vCPUs (1 an instance) each node holds, from the instances; also checks the store's sums. */
async function expectWithinCapacity(store: Store): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  for (const i of await store.instances.list()) {
    if (i.nodeId !== null && (i.desiredStatus === 'running' || i.desiredStatus === 'warm')) {
      held.set(i.nodeId, (held.get(i.nodeId) ?? 0) + 1);
    }
  }
  for (const n of await store.nodes.list()) {
    expect(held.get(n.id) ?? 0).toBeLessThanOrEqual(n.capacity.vcpus);
  }
  const loads = await store.nodes.loads();
  expect(new Map(loads.filter((l) => l.vcpus > 0).map((l) => [l.nodeId, l.vcpus]))).toEqual(held);
  return held;
}

/** The target's load as the store sums it (instances held plus moves' reservations). */
async function loadOf(store: Store, nodeId: string): Promise<number> {
  return (await store.nodes.loads({ nodeIds: [nodeId] }))[0]?.vcpus ?? 0;
}

/** node-1 (2 vCPUs) holds `acme`'s sleeping instance; node-2 has `target` vCPUs; node-1 cordoned. */
async function moverAndTarget(services: Services, store: Store, target: number) {
  await store.nodes.upsert(node('node-1', capacity(2)));
  const mover = await asleep(services, store, 'acme');
  await store.nodes.upsert(node('node-2', capacity(target)));
  await services.nodes.setCordon(admin, 'node-1', 'cordon');
  return mover;
}

await describeEachDatabase("a move reserves and takes its target's room", (db) => {
  it("reserves the target's room from the request: placement and a raise during the transfer cannot take it", async () => {
    const store = db.store();
    const services = policyCoordinator(store, manualClock(T0));
    const mover = await moverAndTarget(services, store, 2);
    const local = await asleep(services, store, 'gamma');
    expect(local.nodeId).toBe('node-2');
    expect(await loadOf(store, 'node-2')).toBe(0);
    const move = await services.moves.request(admin, instanceKey(mover), {
      node: 'node-2',
      wake: true,
    });
    expect(await loadOf(store, 'node-2')).toBe(1);
    await tenant(services, 'beta');
    await scale(services, 'beta', { running: 1 });
    expect((await store.instances.list({ tenantId: 'beta' }))[0]?.nodeId).toBe('node-2');
    await carry(services, move, throughImport);

    // During the transfer: the local wake waits for room, a second placement finds none.
    await services.instances.act(admin, instanceKey(local), { action: 'wake' });
    expect(await store.instances.get(instanceKey(local))).toMatchObject({
      desiredStatus: 'sleeping',
      idleSlot: 'running',
    });
    await scale(services, 'beta', { running: 2 });
    const beta = await store.instances.list({ tenantId: 'beta' });
    expect(beta.map((i) => i.nodeId).sort()).toEqual(['node-2', null]);
    expect(await loadOf(store, 'node-2')).toBe(2);

    const done = await carry(services, move, [imported]);
    expect(done.step).toBe('done');
    expect(await store.instances.get(instanceKey(mover))).toMatchObject({
      nodeId: 'node-2',
      desiredStatus: 'running',
      pressureSleptAt: null,
    });
    expect((await expectWithinCapacity(store)).get('node-2')).toBe(2);
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.some((e) => e.action === 'instance.raise-waiting')).toBe(false);
  });

  it('lands asleep on a target whose room shrank during the transfer, and is raised once room returns', async () => {
    const store = db.store();
    const services = policyCoordinator(store, manualClock(T0));
    const mover = await moverAndTarget(services, store, 2);
    const move = await services.moves.request(admin, instanceKey(mover), {
      node: 'node-2',
      wake: true,
    });
    await tenant(services, 'beta');
    await scale(services, 'beta', { running: 1 });
    await carry(services, move, throughImport);
    // The target now declares one vCPU (its capacity shrank), which beta holds.
    await store.nodes.upsert(node('node-2', capacity(1)));

    const done = await carry(services, move, [imported]);
    expect(done.step).toBe('done');
    expect(await store.instances.get(instanceKey(mover))).toMatchObject({
      nodeId: 'node-2',
      desiredStatus: 'sleeping',
      idleSlot: 'running',
    });
    expect((await store.instances.get(instanceKey(mover)))?.pressureSleptAt).not.toBeNull();
    expect((await expectWithinCapacity(store)).get('node-2')).toBe(1);
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    const waiting = events.find((e) => e.action === 'instance.raise-waiting');
    expect(waiting).toMatchObject({ actor: `move:${move.id}` });
    expect(waiting?.detail).toMatchObject({ nodeId: 'node-2', to: 'running' });
    expect(events.some((e) => e.action === 'instance.moved')).toBe(true);

    // The filler sleeps: the moved instance is raised on the target.
    await scale(services, 'beta', { running: 0, sleeping: 1 });
    expect(await store.instances.get(instanceKey(mover))).toMatchObject({
      nodeId: 'node-2',
      desiredStatus: 'running',
    });
    expect((await expectWithinCapacity(store)).get('node-2')).toBe(1);
  });

  it('frees the reservation when the move fails, also after a coordinator restart', async () => {
    const store = db.store();
    const services = policyCoordinator(store, manualClock(T0));
    await store.nodes.upsert(node('node-1', capacity(2)));
    const mover = await asleep(services, store, 'acme');
    const other = await asleep(services, store, 'delta');
    await store.nodes.upsert(node('node-2', capacity(1)));
    await services.nodes.setCordon(admin, 'node-1', 'cordon');
    const move = await services.moves.request(admin, instanceKey(mover), {
      node: 'node-2',
      wake: true,
    });
    await carry(services, move, throughImport.slice(0, 2));
    // A replica started afresh on the same store still counts it: nothing held in a process.
    const restarted = policyCoordinator(store, manualClock(T0));
    await tenant(restarted, 'beta');
    await scale(restarted, 'beta', { running: 1 });
    expect((await store.instances.list({ tenantId: 'beta' }))[0]?.nodeId).toBeNull();
    expect(await loadOf(store, 'node-2')).toBe(1);
    // A second woken move to the full target is refused, changing nothing.
    await expect(
      restarted.moves.request(admin, instanceKey(other), { node: 'node-2', wake: true }),
    ).rejects.toThrow(/no room to wake it/);

    const failed = await restarted.moveReports.report(admin, 'node-1', move.id, {
      kind: 'failed',
      reason: 'aborted by its operator',
    });
    expect(failed.step).toBe('failed');
    await restarted.scheduler.schedule();
    expect((await store.instances.list({ tenantId: 'beta' }))[0]?.nodeId).toBe('node-2');
    expect(await store.instances.get(instanceKey(mover))).toMatchObject({ nodeId: 'node-1' });
    expect((await expectWithinCapacity(store)).get('node-2')).toBe(1);
  });

  it('a drain restores on a target with room as before', async () => {
    const store = db.store();
    const services = policyCoordinator(store, manualClock(T0));
    await store.nodes.upsert(node('node-1', capacity(2)));
    await tenant(services, 'acme');
    const [runner] = (await scale(services, 'acme', { running: 1 })).created;
    if (!runner) throw new Error('no instance');
    await services.instances.report('node-1', instanceKey(runner), { status: 'running' });
    await store.nodes.upsert(node('node-2', capacity(1)));
    const { moves } = await services.moves.drain(admin, 'node-1');
    const [move] = moves;
    if (!move) throw new Error('the drain asked for no move');
    expect(move).toMatchObject({ targetNode: 'node-2', restore: 'running' });
    await services.instances.report('node-1', instanceKey(runner), { status: 'sleeping' });
    await carry(services, move, [...throughImport, imported]);
    expect(await store.instances.get(instanceKey(runner))).toMatchObject({
      nodeId: 'node-2',
      desiredStatus: 'running',
      pressureSleptAt: null,
    });
    expect((await expectWithinCapacity(store)).get('node-2')).toBe(1);
  });

  it('never overcommits the target under parallel move requests, hand-overs and a raise through two replicas', async () => {
    const store = db.store();
    const one = policyCoordinator(store, manualClock(T0));
    const two = policyCoordinator(store, manualClock(T0));
    await store.nodes.upsert(node('node-1', capacity(2)));
    const movers = [await asleep(one, store, 'acme'), await asleep(one, store, 'beta')];
    await store.nodes.upsert(node('node-2', capacity(1)));
    await one.nodes.setCordon(admin, 'node-1', 'cordon');
    const local = await asleep(one, store, 'gamma');
    expect(local.nodeId).toBe('node-2');

    const asked = await Promise.allSettled([
      ...movers.map((m) =>
        one.moves.request(admin, instanceKey(m), { node: 'node-2', wake: true }),
      ),
      two.instances.act(admin, instanceKey(local), { action: 'wake' }),
    ]);
    const accepted = asked
      .slice(0, 2)
      .flatMap((r) => (r.status === 'fulfilled' ? [r.value as InstanceMove] : []));
    const woken = (await store.instances.get(instanceKey(local)))?.desiredStatus === 'running';
    // The target's one vCPU went to exactly one of them.
    expect(accepted.length + (woken ? 1 : 0)).toBe(1);
    expect(await loadOf(store, 'node-2')).toBe(1);

    await Promise.all(
      accepted.map((m, n) => carry(n === 0 ? one : two, m, [...throughImport, imported])),
    );
    const held = await expectWithinCapacity(store);
    expect(held.get('node-2')).toBe(1);
    for (const m of accepted) expect((await store.instanceMoves.get(m.id))?.step).toBe('done');
  });

  it('moves a raise that waited for room longer than the bound to a node with room', async () => {
    const store = db.store();
    const clock = manualClock(T0);
    const services = policyCoordinator(store, clock);
    await store.nodes.upsert(node('node-1', capacity(1)));
    const waiter = await asleep(services, store, 'acme');
    await tenant(services, 'beta');
    await scale(services, 'beta', { running: 1 });
    // Raised on its full node: it waits asleep there.
    await scale(services, 'acme', { running: 1, sleeping: 0 });
    expect(await store.instances.get(instanceKey(waiter))).toMatchObject({
      nodeId: 'node-1',
      desiredStatus: 'sleeping',
      idleSlot: 'running',
    });
    await store.nodes.upsert(node('node-2', capacity(1)));
    const boundMs = 300_000;
    clock.set(299);
    expect(await services.moves.relocateWaiting(boundMs)).toEqual([]);

    clock.set(301);
    const [move, ...more] = await services.moves.relocateWaiting(boundMs);
    expect(more).toEqual([]);
    expect(move).toMatchObject({
      sourceNode: 'node-1',
      targetNode: 'node-2',
      wake: true,
      restore: 'running',
      requestedBy: 'scheduler',
    });
    // Asked again while it moves: nothing more.
    expect(await services.moves.relocateWaiting(boundMs)).toEqual([]);
    if (!move) throw new Error('no move');
    await carry(services, move, [...throughImport, imported]);
    const moved = await store.instances.get(instanceKey(waiter));
    expect(moved).toMatchObject({
      nodeId: 'node-2',
      desiredStatus: 'running',
      idleSlot: null,
      pressureSleptAt: null,
    });
    expect(await expectWithinCapacity(store)).toEqual(
      new Map([
        ['node-1', 1],
        ['node-2', 1],
      ]),
    );
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.find((e) => e.action === 'instance.move')?.detail).toMatchObject({
      reason: 'waited 301 s for room on its node',
    });
  });

  it('moves no waiting raise when no other node has room', async () => {
    const store = db.store();
    const clock = manualClock(T0);
    const services = policyCoordinator(store, clock);
    await store.nodes.upsert(node('node-1', capacity(1)));
    const waiter = await asleep(services, store, 'acme');
    await tenant(services, 'beta');
    await scale(services, 'beta', { running: 1 });
    await scale(services, 'acme', { running: 1, sleeping: 0 });
    await store.nodes.upsert(node('node-2', capacity(1)));
    await services.nodes.setCordon(admin, 'node-1', 'cordon');
    await tenant(services, 'gamma');
    await scale(services, 'gamma', { running: 1 });
    clock.set(1_000);
    expect(await services.moves.relocateWaiting(1_000)).toEqual([]);
    expect((await store.instances.get(instanceKey(waiter)))?.nodeId).toBe('node-1');
  });
});
