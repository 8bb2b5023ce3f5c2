/**
 * `mvm instance move` end to end with a real guest (QEMU, TCG): an in-process coordinator on
 * SQLite, two agents with their own data dirs on this host, each driven as a linked agent is
 * (its documents reconciled, its MoveWorker passes). The move goes through the coordinator's
 * relay; one part is corrupted on its way to the target, refused by its sha256 and fetched
 * again. The guest wakes on the target with the same boot id, IP and data disk; the source's
 * copy is destroyed only once the target took it over.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoveWorker } from '../../src/agent/move/move-worker.ts';
import { coordinatorReporter } from '../../src/agent/reconcile/coordinator-reporter.ts';
import { reconcileDocument } from '../../src/agent/reconcile/reconcile-document.ts';
import { guestOf } from '../../src/agent/runtime/guest-access.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { nodeDesiredSchema } from '../../src/contract/desired.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Store } from '../../src/ports/store.ts';
import { ADMIN } from '../coordinator/api-client-harness.ts';
import type { Fleet } from '../coordinator/node-health-harness.ts';
import { execText } from '../support/exec-output.ts';
import { quietLogger } from './agent-harness.ts';
import { startMoveWorld } from './move-world.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('move an instance through the coordinator (real guest)');

type Json = Record<string, unknown>;

describe.runIf(gate.run)('mvm instance move through the coordinator', () => {
  const dirs: string[] = [];
  const agents: Record<string, AgentHandle> = {};
  const clients: Record<string, ApiClient> = {};
  const reports: string[] = [];
  let store: Store | undefined;
  let fleet: Fleet;
  let work: string;
  /** Corrupts the first fetch of this part on its way to the target. */
  let corruptPart: string | undefined;

  beforeAll(async () => {
    const world = await startMoveWorld('drn', dirs);
    work = world.work;
    store = world.store;
    fleet = world.fleet;
    Object.assign(agents, world.agents);
    for (const node of ['node-a', 'node-b']) {
      clients[node] = createApiClient({
        baseUrl: 'http://coordinator.test',
        token: ADMIN,
        fetch: async (request) => {
          if (request.method === 'POST' && request.url.includes('/moves/')) {
            const body = (await request.clone().json()) as Json;
            reports.push(`${node} ${String(body.kind)}`);
          }
          const answer = await fleet.app.request(request);
          const part =
            request.method === 'GET' ? /\/parts\/([^/?]+)$/.exec(request.url)?.[1] : undefined;
          if (part === undefined || part !== corruptPart || !answer.body) return answer;
          corruptPart = undefined;
          let first = true;
          const flip = new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              const copy = new Uint8Array(chunk);
              if (first && copy.length > 0) copy[0] = (copy[0] ?? 0) ^ 0xff;
              first = false;
              controller.enqueue(copy);
            },
          });
          return new Response(answer.body.pipeThrough(flip), answer);
        },
      });
    }
  });

  afterAll(async () => {
    for (const agent of Object.values(agents)) {
      for (const vm of await agent.runtime.list()) {
        await agent.runtime.act(vm, 'destroy').catch(() => undefined);
      }
      await agent.close();
    }
    await store?.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  const workers: Record<string, MoveWorker> = {};
  const worker = (node: string) =>
    (workers[node] ??= new MoveWorker({
      api: clients[node]!,
      nodeId: node,
      deps: agents[node]!.deps,
      runtime: agents[node]!.runtime,
      workDir: join(work, node, 'moves'),
      logger: quietLogger,
    }));

  /** One pass of a node's reconciler on its current signed document, as its link runs it. */
  const converge = async (node: string) => {
    const issued = await fleet.services.desired.issue(node);
    const document = nodeDesiredSchema.parse(JSON.parse(issued.envelope.payload));
    return reconcileDocument({
      document,
      runtime: agents[node]!.runtime,
      reporter: coordinatorReporter(clients[node]!, node, quietLogger),
      logger: quietLogger,
      incoming: worker(node).incoming,
    });
  };

  it('moves a sleeping guest to the other node and wakes it there with its data and identity', async () => {
    await fleet.registerNode('node-a', 4);
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 43 });
    await fleet.ok('POST', '/tenants/acme/pools', {
      id: 'web',
      vcpus: 1,
      memMib: 256,
      dataDiskMib: 16,
    });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    const [placed] = await fleet.instances();
    if (!placed) throw new Error('nothing placed');
    const path = `/tenants/acme/pools/web/instances/${placed.id}`;
    await converge('node-a');
    const source = agents['node-a']!;
    let [record] = await source.runtime.list();
    expect(record?.status).toBe('running');
    const wrote = await execText(guestOf(source.deps, record!), {
      argv: ['sh', '-c', 'echo moved-$((6*7)) > /data/moved.txt && sync && cat /data/moved.txt'],
    });
    expect(wrote.stdout).toBe('moved-42\n');
    const before = await guestOf(source.deps, record!).status();

    await fleet.ok('POST', `${path}/actions`, { action: 'sleep' });
    await converge('node-a');
    [record] = await source.runtime.list();
    expect(record?.status).toBe('sleeping');
    await fleet.registerNode('node-b', 4);

    const move = (await fleet.ok('POST', `${path}/move`, { node: 'node-b', wake: true })) as Json;
    const biggest = async () => {
      const m = (await fleet.ok('GET', `/moves/${String(move.id)}`)) as {
        parts: Array<{ name: string; bytes: number }> | null;
      };
      return [...(m.parts ?? [])].sort((a, b) => b.bytes - a.bytes)[0]?.name;
    };
    let step = 'requested';
    for (let round = 0; round < 20 && step !== 'done' && step !== 'failed'; round += 1) {
      await worker('node-a').pass();
      if (corruptPart === undefined && !reports.some((r) => r.endsWith('part-refused'))) {
        corruptPart = await biggest();
      }
      // Between the passes, both reconcilers run as they would: the target's leaves the
      // incoming instance alone, the source's keeps it asleep.
      await converge('node-b');
      await worker('node-b').pass();
      await converge('node-a');
      step = String(((await fleet.ok('GET', `/moves/${String(move.id)}`)) as Json).step);
    }
    expect(step).toBe('done');
    expect(reports).toContain('node-b part-refused');
    expect(reports.filter((r) => r.startsWith('node-a'))).toEqual([
      'node-a start',
      'node-a exported',
    ]);
    expect(reports.at(-1)).toBe('node-b imported');
    const moved = (await fleet.instances()).find((i) => i.id === placed.id);
    expect(moved).toMatchObject({
      nodeId: 'node-b',
      ip: placed.ip,
      mac: placed.mac,
      desiredStatus: 'running',
    });

    // The target wakes it from its document; the source destroys its copy from its own.
    await converge('node-b');
    await converge('node-a');
    expect(await source.runtime.list()).toEqual([]);
    const target = agents['node-b']!;
    const [woken] = await target.runtime.list();
    expect(woken?.status).toBe('running');
    const after = await guestOf(target.deps, woken!).status();
    expect(after).toMatchObject({ boot_id: before.boot_id, ip: placed.ip });
    const read = await execText(guestOf(target.deps, woken!), {
      argv: ['sh', '-c', 'cat /data/moved.txt'],
    });
    expect(read.stdout).toBe('moved-42\n');
    expect(await readdir(join(work, 'relay'))).toEqual([]);
    await worker('node-a').pass();
    await worker('node-b').pass();
    expect(await readdir(join(work, 'node-a', 'moves', 'out'))).toEqual([]);
  }, 900_000);

  it('a drained warm guest comes back warm on the other node, into the same boot', async () => {
    const [placed] = await fleet.instances();
    if (!placed || placed.nodeId !== 'node-b') throw new Error('the first test moves it to node-b');
    const path = `/tenants/acme/pools/web/instances/${placed.id}`;
    const source = agents['node-b']!;
    const target = agents['node-a']!;
    let [record] = await source.runtime.list();
    const before = await guestOf(source.deps, record!).status();
    await fleet.ok('POST', `${path}/actions`, { action: 'warm' });
    await converge('node-b');
    [record] = await source.runtime.list();
    expect(record?.status).toBe('warm');

    const drained = (await fleet.ok('POST', '/nodes/node-b/drain')) as { moves: Json[] };
    expect(drained.moves).toHaveLength(1);
    expect(drained.moves[0]).toMatchObject({ targetNode: 'node-a', wake: true, restore: 'warm' });
    const id = String(drained.moves[0]?.id);
    let step = 'requested';
    for (let round = 0; round < 20 && step !== 'done' && step !== 'failed'; round += 1) {
      await converge('node-b'); // the source sleeps it, as the drain asked
      await worker('node-b').pass();
      await converge('node-a');
      await worker('node-a').pass();
      step = String(((await fleet.ok('GET', `/moves/${id}`)) as Json).step);
    }
    expect(step).toBe('done');
    expect((await fleet.instances()).find((i) => i.id === placed.id)).toMatchObject({
      nodeId: 'node-a',
      desiredStatus: 'warm',
    });
    // The source lets go, and the target brings it back warm (woken from its snapshot,
    // paused). The source first: both agents share this host's cgroup names, and a woken VMM
    // in the cgroup the source's destroy removes would keep it from going.
    await converge('node-b');
    expect(await source.runtime.list()).toEqual([]);
    await converge('node-a');
    const [warm] = await target.runtime.list();
    expect(warm?.status).toBe('warm');
    expect((await fleet.instances()).find((i) => i.id === placed.id)?.status).toBe('warm');
    // Resumed, it is the same boot with its data.
    await fleet.ok('POST', `${path}/actions`, { action: 'wake' });
    await converge('node-a');
    const [running] = await target.runtime.list();
    expect(running?.status).toBe('running');
    expect(await guestOf(target.deps, running!).status()).toMatchObject({
      boot_id: before.boot_id,
      ip: placed.ip,
    });
    const read = await execText(guestOf(target.deps, running!), {
      argv: ['sh', '-c', 'cat /data/moved.txt'],
    });
    expect(read.stdout).toBe('moved-42\n');
  }, 900_000);
});
