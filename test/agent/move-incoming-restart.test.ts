/**
 * The target's importing mark survives an agent restart (docs/moves.md): an in-process
 * coordinator on SQLite and two in-process agents with their own data dirs carry a stopped
 * instance's data disk from node-a to node-b. The target's `imported` report is lost (its agent
 * "crashes" between the import and the hand-over); a MoveWorker started afresh on the same data
 * dir reads back what it was importing before any pass, so node-b's reconciler, whose document
 * does not name the instance yet, leaves the imported copy alone. The coordinator back, the
 * restarted worker reports the import and the hand-over goes through: the data disk is the
 * source's, byte for byte. No guest is booted.
 */
import { createHash } from 'node:crypto';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WakeService } from '../../src/agent/wake/wake-service.ts';
import { WakeTrapDriver } from '../../src/drivers/linux-net/wake-trap-driver.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import { reconcileDocument } from '../../src/agent/reconcile/reconcile-document.ts';
import { instanceDir } from '../../src/agent/runtime/layout.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { nodeDesiredSchema } from '../../src/contract/desired.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Store } from '../../src/ports/store.ts';
import { ADMIN } from '../coordinator/api-client-harness.ts';
import type { Fleet } from '../coordinator/node-health-harness.ts';
import { quietLogger } from './agent-harness.ts';
import { closeMoveWorld, moveWorkerOf, startMoveWorld, stoppedOnNodeA } from './move-world.ts';

type Json = Record<string, unknown>;

const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('a move target restarted between its import and the hand-over', () => {
  const dirs: string[] = [];
  const agents: Record<string, AgentHandle> = {};
  let store: Store | undefined;
  let fleet: Fleet;
  /** When set, the target's `imported` report is lost on its way (the agent died before). */
  let loseImported = false;
  /** When set, the coordinator cannot be reached from node-b. */
  let coordinatorAway = false;

  const client = (node: string): ApiClient =>
    createApiClient({
      baseUrl: 'http://coordinator.test',
      token: ADMIN,
      fetch: async (request) => {
        if (node === 'node-b' && coordinatorAway) throw new Error('connect ECONNREFUSED');
        if (node === 'node-b' && loseImported && request.url.includes('/events')) {
          const body = (await request.clone().json()) as Json;
          if (body.kind === 'imported') throw new Error('the agent was killed');
        }
        return fleet.app.request(request);
      },
    });

  beforeAll(async () => {
    const world = await startMoveWorld('mv2', dirs);
    store = world.store;
    fleet = world.fleet;
    Object.assign(agents, world.agents);
  });

  afterAll(() => closeMoveWorld(agents, store, dirs));

  const workerOf = (node: string) => moveWorkerOf(agents[node]!, node, client(node));

  const converge = async (node: string, incoming: ReadonlySet<string>) => {
    const issued = await fleet.services.desired.issue(node);
    const document = nodeDesiredSchema.parse(JSON.parse(issued.envelope.payload));
    return reconcileDocument({
      document,
      runtime: agents[node]!.runtime,
      logger: quietLogger,
      incoming,
    });
  };

  it('keeps the imported copy across the restart and hands it over once heard again', async () => {
    // node-a holds it stopped with a data disk (a stopped instance moves its data disk alone).
    const source = agents['node-a']!;
    const { placed, path, stopped, disk } = await stoppedOnNodeA(fleet, source, 44);
    const label = `acme/web/${placed.id}`;
    expect(stopped.status).toBe('stopped');
    await writeFile(disk, 'a file on the data disk\n');
    await truncate(disk, 8 * 1024 * 1024);
    const diskSha = await sha(disk);
    await fleet.registerNode('node-b', 4);
    const move = (await fleet.ok('POST', `${path}/move`, { node: 'node-b' })) as Json;
    const moveStep = async () =>
      String(((await fleet.ok('GET', `/moves/${String(move.id)}`)) as Json).step);

    const sourceWorker = workerOf('node-a');
    const targetWorker = workerOf('node-b');
    // node-a's wake on connect (never armed here: no trap is touched) hears the move is under way.
    const wake = new WakeService({
      driver: new WakeTrapDriver(new NodeProcessRunner()),
      wake: (record) => Promise.resolve(record),
      records: () => source.runtime.list(),
      holdMs: 1_000,
      clock: source.deps.clock,
      logger: quietLogger,
    });
    source.deps.wake = wake;
    expect(wake.isLeaving(stopped)).toBe(false);
    await sourceWorker.pass();
    expect(wake.isLeaving(stopped)).toBe(true);
    expect(
      (JSON.parse(await readFile(sourceWorker.markFile, 'utf8')) as { outgoing: string[] })
        .outgoing,
    ).toEqual([label]);
    loseImported = true;
    for (let round = 0; round < 10; round += 1) {
      await sourceWorker.pass();
      await targetWorker.pass();
      const [record] = await agents['node-b']!.runtime.list();
      if (record?.status === 'stopped') break;
    }
    const target = agents['node-b']!;
    const [imported] = await target.runtime.list();
    expect(imported).toMatchObject({ status: 'stopped' });
    expect(await moveStep()).toBe('importing');
    expect(targetWorker.incoming.has(label)).toBe(true);
    const mark = JSON.parse(await readFile(targetWorker.markFile, 'utf8')) as Json;
    expect(mark).toEqual({ importing: [label], handedOver: {}, outgoing: [] });

    // The agent restarts while the coordinator is away: a new worker on the same data dir.
    coordinatorAway = true;
    const restarted = workerOf('node-b');
    expect(restarted.incoming.size).toBe(0);
    await expect(restarted.pass()).rejects.toThrow();
    expect([...restarted.incoming]).toEqual([label]);
    // Its reconciler's document does not name the instance: the copy is left alone.
    await converge('node-b', restarted.incoming);
    expect((await target.runtime.list()).map((r) => r.status)).toEqual(['stopped']);

    // Heard again: the import is reported (nothing imported twice) and the instance handed over.
    coordinatorAway = false;
    loseImported = false;
    await restarted.pass();
    expect(await moveStep()).toBe('done');
    expect((await fleet.instances()).find((i) => i.id === placed.id)).toMatchObject({
      nodeId: 'node-b',
      desiredStatus: 'stopped',
    });
    // Held after the hand-over, until its document names it.
    expect(restarted.incoming.has(label)).toBe(true);
    const after = JSON.parse(await readFile(restarted.markFile, 'utf8')) as {
      importing: string[];
      handedOver: Record<string, string>;
    };
    expect(after.importing).toEqual([]);
    expect(Object.keys(after.handedOver)).toEqual([label]);
    await converge('node-b', restarted.incoming);
    const [kept] = await target.runtime.list();
    expect(kept).toMatchObject({ status: 'stopped', spec: { ip: placed.ip, mac: placed.mac } });
    const moved = join(instanceDir(target.deps.layout, kept!.key), 'drives', 'data.ext4');
    expect(await sha(moved)).toBe(diskSha);
    // The source's reconciler, its document no longer naming it, destroys its copy; its wake
    // on connect no longer counts it as leaving once the move is over.
    await converge('node-a', new Set());
    expect(await source.runtime.list()).toEqual([]);
    await sourceWorker.pass();
    expect(wake.isLeaving(stopped)).toBe(false);
    delete source.deps.wake;
  }, 120_000);
});
