/**
 * A connection wakes a sleeping instance only when the coordinator admits the wake: the node
 * asks first (the wake report, agent/wake/wake-admission.ts) and the coordinator raises the
 * instance to running only with room on its node, in the same transaction and under the same
 * lock as every other raise (services/raise-room.ts). Without room nothing is woken: the held
 * connection is reset, the instance waits asleep for room (`instance.raise-waiting`), and once
 * room returns the next connection wakes it. A real coordinator on each store, reached through
 * its HTTP app and the real API client; the agent's published-port wiring over loopback
 * sockets, with a stand-in runtime (the real one is test/e2e/published-wake-qemu.test.ts).
 * A coordinator that does not answer (its HTTP port closed): the node admits the wake itself
 * when its own count of its room allows (agent/wake/wake-admitter.ts), never beyond it, and
 * reports it once the coordinator listens again (another instance on a node that report leaves
 * over capacity is lowered); with the fallback off it wakes nothing.
 */
import { tmpdir } from 'node:os';
import { connect, createServer, type AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import type { BuiltRuntime } from '../../src/agent/build-runtime.ts';
import { startPublish, type PublishHandle } from '../../src/agent/publish/start-publish.ts';
import { DEFAULT_TIMEOUTS } from '../../src/agent/runtime/deps.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { createCoordinatorApp } from '../../src/coordinator/app.ts';
import type { Services } from '../../src/coordinator/services/index.ts';
import type { Instance } from '../../src/core/model.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import type { Store } from '../../src/ports/store.ts';
import { node } from '../db/fixtures.ts';
import { admin, plainWebTenant } from '../coordinator/support/policy-harness.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { reopenableServer } from '../support/reopenable-server.ts';
import { quietLogger } from './agent-harness.ts';
import { askToWake } from '../../src/agent/wake/wake-admission.ts';
import { WakeService } from '../../src/agent/wake/wake-service.ts';
import type { WakeTrapDriver } from '../../src/drivers/linux-net/wake-trap-driver.ts';
import type { TrapEntry } from '../../src/core/wake-trap.ts';
import { WakeAdmitter, type AdmissionOutcome } from '../../src/agent/wake/wake-admitter.ts';
import { freePort } from '../support/free-port.ts';

const ADMIN = 'wake-admission-admin-token-0123456789';
const NODE = 'node-1';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** One coordinator replica over `store`: its services and an API client reaching its app. */
async function replica(
  store: Store,
  prefix: string,
): Promise<{ services: Services; api: ApiClient; fetch: (request: Request) => Promise<Response> }> {
  let n = 0;
  const { app, services } = createCoordinatorApp({
    store,
    clock: systemClock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: () => `${prefix}${(n += 1)}`,
  });
  await services.adminToken.adopt({ secret: ADMIN, home: { kind: 'configured' }, source: 'test' });
  closers.push(async () => {
    services.jobs.close();
    await services.rechecks.close();
  });
  const api = createApiClient({
    baseUrl: 'http://coordinator.test',
    token: ADMIN,
    fetch: (request: Request) => Promise.resolve(app.fetch(request)),
  });
  return { services, api, fetch: (request: Request) => Promise.resolve(app.fetch(request)) };
}

const tenant = (services: Services, id: string) => plainWebTenant(services, id);

const scale = (services: Services, tenantId: string, counts: Record<string, number>) =>
  services.pools.scale(admin, tenantId, 'web', counts);

/**
 * An instance's service, listening from the start on a port of its own (no other process can
 * take it meanwhile): it answers its id once woken, and drops a connection before.
 */
async function guestService(instanceId: string, woken: readonly string[]): Promise<number> {
  const service = createServer((socket) =>
    woken.includes(instanceId) ? socket.end(`hello from ${instanceId}`) : socket.destroy(),
  );
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  closers.push(() => void service.close());
  return (service.address() as AddressInfo).port;
}

/**
 * The node's side: one sleeping record per instance, each published on a host port of its
 * own; a `wake` starts the instance's service (it answers its id) and counts the wake.
 */
async function agentNode(
  instances: readonly Instance[],
  api: ApiClient,
  local: {
    /** The node's own admitter, over its records. */
    admitter?: (records: () => Promise<VmRecord[]>) => WakeAdmitter;
    /** VMs already running here (1 vCPU each). */
    running?: number;
  } = {},
) {
  const records = new Map<string, VmRecord>();
  for (let n = 0; n < (local.running ?? 0); n += 1) {
    records.set(`filler-${n}`, {
      key: `filler-${n}`,
      tenantId: 'filler',
      poolId: 'web',
      instanceId: `filler-${n}`,
      status: 'running',
      spec: { ip: '127.0.0.1', vcpus: 1, memMib: 256, publish: [] },
    } as unknown as VmRecord);
  }
  const hostPorts = new Map<string, number>();
  const woken: string[] = [];
  for (const i of instances) {
    const [hostPort, guestPort] = [await freePort(), await guestService(i.id, woken)];
    hostPorts.set(i.id, hostPort);
    records.set(i.id, {
      key: `${i.tenantId}-${i.poolId}-${i.id}`,
      tenantId: i.tenantId,
      poolId: i.poolId,
      instanceId: i.id,
      status: 'sleeping',
      spec: { ip: '127.0.0.1', vcpus: 1, memMib: 256, publish: [{ hostPort, guestPort }] },
    } as unknown as VmRecord);
  }
  const runtime = {
    list: () => Promise.resolve([...records.values()]),
    act: async (ref: { instanceId: string }, action: string) => {
      const record = records.get(ref.instanceId);
      if (!record || action !== 'wake')
        throw new Error(`unexpected ${action} of ${ref.instanceId}`);
      woken.push(ref.instanceId);
      const up = { ...record, status: 'running' } as VmRecord;
      records.set(ref.instanceId, up);
      return up;
    },
  };
  const deps = { network: {}, timeouts: DEFAULT_TIMEOUTS, clock: systemClock } as Record<
    string,
    unknown
  >;
  const admitter = local.admitter?.(runtime.list);
  if (admitter) closers.push(() => admitter.close());
  const handle: PublishHandle | undefined = await startPublish(
    { runtime, deps } as unknown as BuiltRuntime,
    {
      logger: quietLogger,
      netns: undefined,
      address: '127.0.0.1',
      coordinator: { api, nodeId: NODE },
      runner: new NodeProcessRunner(),
      dataDir: tmpdir(),
      ...(admitter ? { admitter } : {}),
    },
  );
  if (!handle) throw new Error('the published ports did not start');
  closers.push(() => handle.close());
  const deadline = Date.now() + 10_000;
  const wanted = [...hostPorts.values()];
  while (!wanted.every((p) => handle.proxy.ports().includes(p))) {
    if (Date.now() > deadline) throw new Error('the published ports did not open');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  /** Connects to an instance's published port: what it answered, or `reset`. */
  const ask = (instanceId: string) =>
    new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: hostPorts.get(instanceId) ?? 0 });
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => resolve(data === '' ? 'reset' : data));
      socket.on('error', () => resolve('reset'));
    });
  return { ask, woken, handle, admitter };
}

/**
 * The trap's side (agent/wake/wake-service.ts, as start-wake.ts wires it): the instance armed
 * behind its holding listener; the nftables redirect is a stand-in that records the listening
 * port (the real one is test/net/wake-on-connect.test.ts), so the test connects to it.
 */
async function trapNode(
  sleeper: Instance,
  api: ApiClient,
  local: { admitter?: (records: () => Promise<VmRecord[]>) => WakeAdmitter } = {},
) {
  const woken: string[] = [];
  const guestPort = await guestService(sleeper.id, woken);
  const record = {
    key: `${sleeper.tenantId}-${sleeper.poolId}-${sleeper.id}`,
    tenantId: sleeper.tenantId,
    poolId: sleeper.poolId,
    instanceId: sleeper.id,
    status: 'sleeping',
    spec: {
      ip: '127.0.0.1',
      vcpus: 1,
      memMib: 256,
      servicePorts: [guestPort],
      tenant: { netId: 1 },
    },
  } as unknown as VmRecord;
  const admitter = local.admitter?.(() => Promise.resolve([record]));
  if (admitter) closers.push(() => admitter.close());
  let listenPort = 0;
  const driver = {
    ensure: () => Promise.resolve(),
    arm: (_bridge: string, _ip: string, entries: readonly TrapEntry[]) => {
      listenPort = entries[0]?.listenPort ?? 0;
      return Promise.resolve();
    },
    disarm: () => Promise.resolve(),
    forget: () => Promise.resolve(),
  } as unknown as WakeTrapDriver;
  const service = new WakeService({
    driver,
    wake: (r) => {
      woken.push(r.instanceId);
      return Promise.resolve({ ...r, status: 'running' } as VmRecord);
    },
    records: () => Promise.resolve([record]),
    admit: (r, wake) =>
      admitter
        ? admitter.admit(r, wake, 'trap')
        : askToWake({ api, nodeId: NODE }, r, {
            port: wake.port,
            from: wake.from,
            source: wake.source,
          }),
    holdMs: 10_000,
    clock: systemClock,
    logger: quietLogger,
  });
  closers.push(() => service.close());
  await service.arm(record);
  const ask = () =>
    new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: listenPort });
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => resolve(data === '' ? 'reset' : data));
      socket.on('error', () => resolve('reset'));
    });
  return { ask, woken, service, admitter };
}

/** vCPUs (1 per instance here) the instances hold on the node, by their desired status. */
async function heldOnNode(store: Store): Promise<number> {
  const all = await store.instances.list();
  return all.filter(
    (i) => i.nodeId === NODE && (i.desiredStatus === 'running' || i.desiredStatus === 'warm'),
  ).length;
}

/** A one-vCPU node held by beta's running instance, and acme's instance asleep beside it. */
async function fullNodeWithSleeper(store: Store) {
  await store.nodes.upsert(node(NODE, { capacity: { vcpus: 1, memMib: 65536, diskGib: 100 } }));
  const { services, api } = await replica(store, 'a');
  await tenant(services, 'acme');
  await tenant(services, 'beta');
  const {
    created: [sleeper],
  } = await scale(services, 'acme', { running: 1 });
  if (!sleeper) throw new Error('the scale made no instance');
  await scale(services, 'acme', { running: 0, sleeping: 1 });
  await scale(services, 'beta', { running: 1 });
  return { services, api, sleeper };
}

await describeEachDatabase('wake on connect admitted only with room', (db) => {
  it('resets a connection to an instance its full node has no room for, and wakes it once room returns', async () => {
    const store = db.store();
    const { services, api, sleeper } = await fullNodeWithSleeper(store);
    expect(await heldOnNode(store)).toBe(1);

    const agent = await agentNode([sleeper], api);
    expect(await agent.ask(sleeper.id)).toBe('reset');
    expect(agent.woken).toEqual([]);
    const [held] = await store.instances.list({ tenantId: 'acme' });
    expect(held).toMatchObject({ desiredStatus: 'sleeping', idleSlot: 'running' });
    expect(held?.pressureSleptAt).not.toBeNull();
    expect(await heldOnNode(store)).toBe(1);
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.find((e) => e.action === 'instance.wake-on-connect')?.detail).toMatchObject({
      from: 'sleeping',
      to: 'sleeping',
    });
    expect(events.some((e) => e.action === 'instance.raise-waiting')).toBe(true);

    // Room returns: the scheduler raises it, and the next connection wakes it and is served.
    await scale(services, 'beta', { running: 0, sleeping: 1 });
    expect((await store.instances.list({ tenantId: 'acme' }))[0]?.desiredStatus).toBe('running');
    expect(await agent.ask(sleeper.id)).toBe(`hello from ${sleeper.id}`);
    expect(agent.woken).toEqual([sleeper.id]);
    expect(await heldOnNode(store)).toBe(1);
  });

  it('holds a trapped connection the same way: reset without room, served once room returns', async () => {
    const store = db.store();
    const { services, api, sleeper } = await fullNodeWithSleeper(store);

    const trap = await trapNode(sleeper, api);
    expect(await trap.ask()).toBe('reset');
    expect(trap.woken).toEqual([]);
    expect(trap.service.unadmittedCount).toBe(1);
    expect(await heldOnNode(store)).toBe(1);
    expect((await store.instances.list({ tenantId: 'acme' }))[0]).toMatchObject({
      desiredStatus: 'sleeping',
      idleSlot: 'running',
    });

    await scale(services, 'beta', { running: 0, sleeping: 1 });
    expect(await trap.ask()).toBe(`hello from ${sleeper.id}`);
    expect(trap.woken).toEqual([sleeper.id]);
    expect(await heldOnNode(store)).toBe(1);
  });

  it('wakes only as many as fit when connections reach two replicas at once', async () => {
    const store = db.store();
    await store.nodes.upsert(node(NODE, { capacity: { vcpus: 6, memMib: 65536, diskGib: 100 } }));
    const one = await replica(store, 'a');
    const two = await replica(store, 'b');
    // Six tenants' instances (a published port is its pool's: one instance a pool here).
    const tenants = Array.from({ length: 6 }, (_, i) => `t${i}`);
    const created: Instance[] = [];
    for (const t of tenants) {
      await tenant(one.services, t);
      created.push(...(await scale(one.services, t, { running: 1 })).created);
      await scale(one.services, t, { running: 0, sleeping: 1 });
    }
    expect(created).toHaveLength(6);
    await tenant(one.services, 'filler');
    // The filler takes 4 of the 6 vCPUs: room for two wakes.
    await scale(one.services, 'filler', { running: 4 });

    const first = await agentNode(created.slice(0, 3), one.api);
    const second = await agentNode(created.slice(3), two.api);
    const answers = await Promise.all(created.map((i, n) => (n < 3 ? first : second).ask(i.id)));
    const served = answers.filter((a) => a.startsWith('hello'));
    expect(served).toHaveLength(2);
    expect(answers.filter((a) => a === 'reset')).toHaveLength(4);
    expect(first.woken.length + second.woken.length).toBe(2);
    expect(await heldOnNode(store)).toBe(6);
    const loads = await store.nodes.loads({ nodeIds: [NODE] });
    expect(loads[0]?.vcpus).toBe(6);
    const waiting = (await store.instances.list()).filter((i) => i.pressureSleptAt !== null);
    expect(waiting).toHaveLength(4);
  });
});

/**
 * The coordinator's app served over real HTTP on a loopback port that can be closed (the port
 * then refuses) and opened again on the same port (a restarted coordinator).
 */
async function httpCoordinator(store: Store) {
  const { services, fetch } = await replica(store, 'h');
  const server = reopenableServer(fetch);
  await server.start();
  closers.push(server.stop);
  const api = createApiClient({ baseUrl: server.url(), token: ADMIN });
  return { services, api, stop: server.stop, start: server.start };
}

/** Sleeping instances of their own tenants on NODE (2 vCPUs in the store). */
async function sleepers(services: Services, store: Store, tenants: readonly string[]) {
  await store.nodes.upsert(node(NODE, { capacity: { vcpus: 2, memMib: 65536, diskGib: 100 } }));
  const out: Instance[] = [];
  for (const t of tenants) {
    await tenant(services, t);
    const [made] = (await scale(services, t, { running: 1 })).created;
    if (!made) throw new Error('the scale made no instance');
    await scale(services, t, { running: 0, sleeping: 1 });
    out.push(made);
  }
  return out;
}

function admitterOver(
  api: ApiClient,
  vcpus: number,
  fallback: boolean,
  counted: Array<[string, AdmissionOutcome]>,
) {
  return (records: () => Promise<VmRecord[]>) =>
    new WakeAdmitter({
      coordinator: { api, nodeId: NODE },
      fallback,
      capacity: () => Promise.resolve({ vcpus, memMib: 65536 }),
      records,
      logger: quietLogger,
      count: (trigger, admission) => counted.push([trigger, admission]),
      timeoutMs: 2_000,
      retryMs: 100,
    });
}

await describeEachDatabase('wake on connect while the coordinator does not answer', (db) => {
  it("admits wakes (published port and trap) by the node's own count of its room and reports them once the coordinator is back", async () => {
    const store = db.store();
    const coordinator = await httpCoordinator(store);
    const [sleeper, trapped] = await sleepers(coordinator.services, store, ['acme', 'beta']);
    if (!sleeper || !trapped) throw new Error('no sleeper');
    const counted: Array<[string, AdmissionOutcome]> = [];
    const agent = await agentNode([sleeper], coordinator.api, {
      admitter: admitterOver(coordinator.api, 2, true, counted),
      running: 1,
    });
    const trap = await trapNode(trapped, coordinator.api, {
      admitter: admitterOver(coordinator.api, 1, true, counted),
    });
    await coordinator.stop();

    expect(await agent.ask(sleeper.id)).toBe(`hello from ${sleeper.id}`);
    expect(await trap.ask()).toBe(`hello from ${trapped.id}`);
    expect([...agent.woken, ...trap.woken]).toEqual([sleeper.id, trapped.id]);
    expect(counted).toEqual([
      ['publish', 'local'],
      ['trap', 'local'],
    ]);
    expect(agent.admitter?.unreportedCount).toBe(1);
    const vmKey = `${sleeper.tenantId}-${sleeper.poolId}-${sleeper.id}`;
    // Kept running against the older document while unreported (core desiredWhileUnreported).
    expect(agent.admitter?.unreported(vmKey)).toBe(true);
    expect((await store.instances.get(key(sleeper)))?.desiredStatus).toBe('sleeping');

    // Still down: the reports wait. Back on the same port: the coordinator learns they run.
    expect(await agent.admitter?.flush()).toBe(1);
    await coordinator.start();
    const deadline = Date.now() + 30_000;
    while ((agent.admitter?.unreportedCount ?? 0) + (trap.admitter?.unreportedCount ?? 0) > 0) {
      if (Date.now() > deadline) throw new Error('the local wakes were never reported');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(agent.admitter?.unreported(vmKey)).toBe(false);
    for (const i of [sleeper, trapped]) {
      expect(await store.instances.get(key(i))).toMatchObject({
        desiredStatus: 'running',
        pressureSleptAt: null,
      });
    }
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.find((e) => e.action === 'instance.wake-on-connect')?.detail).toMatchObject({
      from: 'sleeping',
      to: 'running',
      admittedBy: 'node',
    });
    expect(await heldOnNode(store)).toBe(2);
  });

  it('counts a reported local wake as running where the coordinator had no room left, and lowers another instance there', async () => {
    const store = db.store();
    const coordinator = await httpCoordinator(store);
    const [sleeper] = await sleepers(coordinator.services, store, ['acme']);
    if (!sleeper) throw new Error('no sleeper');
    const counted: Array<[string, AdmissionOutcome]> = [];
    const agent = await agentNode([sleeper], coordinator.api, {
      admitter: admitterOver(coordinator.api, 2, true, counted),
    });
    await coordinator.stop();
    expect(await agent.ask(sleeper.id)).toBe(`hello from ${sleeper.id}`);
    // Meanwhile the coordinator's own count fills the node (2 vCPUs) with another tenant.
    await tenant(coordinator.services, 'beta');
    await scale(coordinator.services, 'beta', { running: 2 });
    expect(await heldOnNode(store)).toBe(2);

    await coordinator.start();
    expect(await agent.admitter?.flush()).toBe(0);
    // It runs on the node: counted so, not held asleep (the node would stop a served guest).
    expect(await store.instances.get(key(sleeper))).toMatchObject({
      desiredStatus: 'running',
      pressureSleptAt: null,
    });
    // The node is brought back under its capacity: one of beta's is lowered, not the wake.
    expect((await store.nodes.loads({ nodeIds: [NODE] }))[0]?.vcpus).toBe(2);
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.some((e) => e.action === 'instance.raise-waiting')).toBe(false);
    const beta = await store.instances.list({ tenantId: 'beta' });
    expect(beta.map((i) => i.desiredStatus).sort()).toEqual(['running', 'sleeping']);
    const lowered = await store.audit.list({ tenantId: 'beta', limit: 50 });
    expect(lowered.filter((e) => e.action === 'instance.overcommit-lowered')).toHaveLength(1);
  });

  it('wakes only what its own count has room for, and nothing with the fallback off', async () => {
    const store = db.store();
    const coordinator = await httpCoordinator(store);
    const made = await sleepers(coordinator.services, store, ['t0', 't1', 't2']);
    await coordinator.stop();
    // Room for one more next to the one running; both connections at once.
    const counted: Array<[string, AdmissionOutcome]> = [];
    const agent = await agentNode(made.slice(0, 2), coordinator.api, {
      admitter: admitterOver(coordinator.api, 2, true, counted),
      running: 1,
    });
    const answers = await Promise.all(made.slice(0, 2).map((i) => agent.ask(i.id)));
    expect(answers.filter((a) => a.startsWith('hello'))).toHaveLength(1);
    expect(answers.filter((a) => a === 'reset')).toHaveLength(1);
    expect(agent.woken).toHaveLength(1);
    expect(counted.map(([, a]) => a).sort()).toEqual(['local', 'unanswered']);
    expect(agent.admitter?.unreportedCount).toBe(1);

    const off: Array<[string, AdmissionOutcome]> = [];
    const strict = await agentNode(made.slice(2), coordinator.api, {
      admitter: admitterOver(coordinator.api, 8, false, off),
    });
    expect(await strict.ask(made[2]?.id ?? '')).toBe('reset');
    expect(strict.woken).toEqual([]);
    expect(off).toEqual([['publish', 'unanswered']]);
    for (const i of made) {
      expect((await store.instances.get(key(i)))?.desiredStatus).toBe('sleeping');
    }
  });
});

const key = (i: Instance) => ({ tenantId: i.tenantId, poolId: i.poolId, instanceId: i.id });
