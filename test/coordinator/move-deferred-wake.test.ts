import { afterEach, expect, it } from 'vitest';
import type { Services } from '../../src/coordinator/services/index.ts';
import type { InstanceMove } from '../../src/core/instance-move.ts';
import type { Instance } from '../../src/core/model.ts';
import type { MoveReport } from '../../src/contract/moves.ts';
import type { Store } from '../../src/ports/store.ts';
import { node } from '../db/fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  admin,
  closeCoordinators,
  coordinator,
  keyOf,
  manualClock,
  nodeSettles,
  ref,
  setup,
  submit,
} from './queue-pool-world.ts';

afterEach(closeCoordinators);

const hex = (c: string) => c.repeat(64);
/** What the source's export reports: two parts, their hashes as the contract wants them. */
const manifest = {
  format: 'mvm-move-bundle/1' as const,
  compression: 'gzip' as const,
  parts: [
    { name: 'snapshot.vmstate', bytes: 300, sha256: hex('a'), rawBytes: 900, rawSha256: hex('b') },
    { name: 'data.ext4', bytes: 40, sha256: hex('c'), rawBytes: 4096, rawSha256: hex('d') },
  ],
};

/** The desired status each node's current signed document gives each instance, by id. */
async function documentStatuses(services: Services, nodeId: string) {
  const issued = await services.desired.issue(nodeId);
  const doc = JSON.parse(issued.envelope.payload) as {
    tenants: Array<{ pools: Array<{ instances: Array<{ id: string; desiredStatus: string }> }> }>;
  };
  const out: Record<string, string> = {};
  for (const t of doc.tenants) {
    for (const p of t.pools) for (const i of p.instances) out[i.id] = i.desiredStatus;
  }
  return out;
}

/** One queue worker, slept by the idle policy on node-1, asked to move to node-2. */
async function sleepingWorkerMoving(
  services: Services,
  store: Store,
  clock: { set(s: number): void },
) {
  await setup(services, store, { workers: 1, max: 1 });
  clock.set(200);
  await services.idle.pass();
  const [worker] = await nodeSettles(services, store);
  if (!worker) throw new Error('no worker');
  expect(worker).toMatchObject({ status: 'sleeping', nodeId: 'node-1' });
  await store.nodes.upsert(node('node-2'));
  const move = await services.moves.request(admin, keyOf(worker), { node: 'node-2', wake: false });
  return { worker, move };
}

async function carry(services: Services, move: InstanceMove, reports: Array<[string, MoveReport]>) {
  let last = move;
  for (const [nodeId, report] of reports) {
    last = await services.moveReports.report(admin, nodeId, move.id, report);
  }
  return last;
}

const throughImport: Array<[string, MoveReport]> = [
  ['node-1', { kind: 'start' }],
  ['node-1', { kind: 'exported', manifest }],
  ...manifest.parts.map((p): [string, MoveReport] => [
    'node-2',
    { kind: 'received', part: p.name, bytes: p.bytes },
  ]),
];

const workerNow = async (store: Store, worker: Instance) => store.instances.get(keyOf(worker));

await describeEachDatabase('wakes decided during a move', (db) => {
  it('a queue growth during a move waits for it: the move completes, the worker runs on the target', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    const { worker, move } = await sleepingWorkerMoving(services, db.store(), clock);
    await carry(services, move, throughImport.slice(0, 2));

    // A job arrives while the bundle is on its way: the queue raises the worker.
    await submit(services);
    const raised = await services.queueWake.pass();
    expect(raised.changed).toEqual([
      {
        instance: `${ref.tenantId}/${ref.poolId}/${worker.id}`,
        to: 'running',
        reason: 'queue-wake',
      },
    ]);
    expect(await workerNow(db.store(), worker)).toMatchObject({
      desiredStatus: 'running',
      status: 'sleeping',
      nodeId: 'node-1',
    });
    // Its source is told to keep it asleep: the copy being moved is not woken there.
    expect((await documentStatuses(services, 'node-1'))[worker.id]).toBe('sleeping');
    expect(await documentStatuses(services, 'node-2')).toEqual({});

    const done = await carry(services, move, [
      ...throughImport.slice(2),
      ['node-2', { kind: 'imported' }],
    ]);
    expect(done).toMatchObject({ step: 'done', reason: null });
    // The deferred wake is carried out on the target.
    expect(await workerNow(db.store(), worker)).toMatchObject({
      nodeId: 'node-2',
      desiredStatus: 'running',
    });
    expect(await documentStatuses(services, 'node-2')).toEqual({ [worker.id]: 'running' });
    expect(await documentStatuses(services, 'node-1')).toEqual({});
    await services.instances.report('node-2', keyOf(worker), { status: 'running' });
    expect(await workerNow(db.store(), worker)).toMatchObject({
      nodeId: 'node-2',
      status: 'running',
    });
    const events = await db.store().audit.list({ tenantId: 'acme', limit: 50 });
    const actions = events.map((e) => e.action);
    expect(actions).toContain('instance.moved');
    expect(actions).not.toContain('instance.move-failed');
  });

  it('a wake deferred by a move that then fails is carried out on the source', async () => {
    const clock = manualClock();
    const services = coordinator(db.store(), clock);
    const { worker, move } = await sleepingWorkerMoving(services, db.store(), clock);
    await carry(services, move, throughImport.slice(0, 1));
    await submit(services);
    await services.queueWake.pass();
    expect((await documentStatuses(services, 'node-1'))[worker.id]).toBe('sleeping');
    const failed = await carry(services, move, [
      ['node-2', { kind: 'failed', reason: 'disk full' }],
    ]);
    expect(failed).toMatchObject({ step: 'failed' });
    expect(await workerNow(db.store(), worker)).toMatchObject({
      nodeId: 'node-1',
      desiredStatus: 'running',
    });
    expect((await documentStatuses(services, 'node-1'))[worker.id]).toBe('running');
  });
});
