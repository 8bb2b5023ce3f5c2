/**
 * Cross-node tenant networks end to end: a coordinator (in-process, real store) learns two
 * nodes' underlay addresses and places tenant alpha on both and beta on node-1 only; on each
 * node namespace a real agent (its loop, reconciler and network sync) follows the signed
 * documents. Namespace "guests" stand where the VMs' taps would be. Real packets prove alpha
 * spans the nodes over VXLAN while beta cannot reach it, and that a peer leaves the flood
 * list when its node stops carrying the tenant. No VM is booted: the instances are stopped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DesiredFileStore } from '../../src/agent/desired/desired-file-store.ts';
import { detectUnderlayIp } from '../../src/agent/join/underlay-address.ts';
import { coordinatorReporter } from '../../src/agent/reconcile/coordinator-reporter.ts';
import { runAgentLoop } from '../../src/agent/reconcile/agent-loop.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { guestParams } from '../../src/agent/runtime/vm-spec.ts';
import { createCoordinatorApp } from '../../src/coordinator/app.ts';
import { tapName, vxlanName } from '../../src/core/naming.ts';
import { verifyNetwork } from '../../src/core/net-invariants.ts';
import { openStore } from '../../src/db/open-store.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import { NetnsProcessRunner } from '../../src/drivers/process/netns-process-runner.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import type { ObservedNetwork } from '../../src/ports/network.ts';
import type { Vmm } from '../../src/ports/vmm.ts';
import type { Store } from '../../src/ports/store.ts';
import { testAgentConfig } from '../agent/agent-harness.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('tenant VXLAN from the coordinator', [
  await netGate('tenant VXLAN from the coordinator'),
]);

const ADMIN = 'vxlan-test-admin-token-0123456789';
const ALPHA = 221;
const BETA = 222;
const UNDERLAY = { 'node-1': '10.252.0.1', 'node-2': '10.252.0.2' } as const;
type NodeId = keyof typeof UNDERLAY;
const PORT = 7000;
const quiet = pino({ level: 'silent' });

/** These instances are only ever stopped: a VMM call here is a bug in the test setup. */
const noVmm: Vmm = {
  name: 'qemu',
  capabilities: () =>
    Promise.resolve({
      diffSnapshots: false,
      jailer: false,
      confined: false,
      memOverheadMib: 0,
      guestChannel: 'vsock',
      accel: 'tcg',
    }),
  start: () => Promise.reject(new Error('this test boots no VM')),
  pause: () => Promise.reject(new Error('this test boots no VM')),
  resume: () => Promise.reject(new Error('this test boots no VM')),
  snapshot: () => Promise.reject(new Error('this test boots no VM')),
  restore: () => Promise.reject(new Error('this test boots no VM')),
  state: () => Promise.resolve('exited'),
  stop: () => Promise.resolve(),
  adopt: () => Promise.resolve(null),
};

interface Placed {
  tenantId: string;
  poolId: string;
  id: string;
  ip: string;
  mac: string;
  nodeId: string | null;
}

async function inProcessCoordinator(store: Store) {
  let counter = 0;
  const deps = {
    store,
    clock: systemClock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: () => `v${(counter += 1)}`,
    desiredPollMs: 100,
  };
  const { app, services } = createCoordinatorApp(deps);
  await services.adminToken.adopt({ secret: ADMIN, home: { kind: 'configured' }, source: 'test' });
  const fetch = async (request: Request): Promise<Response> => app.fetch(request);
  const baseUrl = 'http://coordinator.invalid';
  const api = createApiClient({ baseUrl, token: ADMIN, fetch });
  // Answers the agents' long polls at once, as a stopping coordinator does.
  const close = (): void => services.desired.close();
  return { fetch, baseUrl, api, close };
}

/**
 * Beta first, while node-1 is alone; then alpha spreads over both nodes. All stopped.
 * Answers the instances and each tenant's gateway.
 */
async function placeTenants(
  api: ApiClient,
): Promise<{ placed: Placed[]; gateways: Map<string, string> }> {
  const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
  const facts = (hostname: string) => ({
    hostname,
    arch: 'x86_64',
    capacity: { vcpus: 8, memMib: 8192, diskGib: 10 },
  });
  const gateways = new Map<string, string>();
  for (const [tenant, netId] of [
    ['alpha', ALPHA],
    ['beta', BETA],
  ] as const) {
    const created = await api.call('createTenant', { body: { id: tenant, netId } });
    gateways.set(tenant, created.gateway);
    await api.call('createPool', { params: { tenant }, body: pool });
  }
  const register = (node: NodeId) =>
    api.call('registerNode', {
      params: { node },
      body: { ...facts(node), underlayIp: UNDERLAY[node] },
    });
  await register('node-1');
  await api.call('scalePool', { params: { tenant: 'beta', pool: 'web' }, body: { running: 1 } });
  await register('node-2');
  await api.call('scalePool', { params: { tenant: 'alpha', pool: 'web' }, body: { running: 2 } });
  const placed = await api.call('listInstances', { query: {} });
  for (const i of placed) {
    await api.call('instanceAction', {
      params: { tenant: i.tenantId, pool: i.poolId, instance: i.id },
      body: { action: 'stop' },
    });
  }
  return { placed, gateways };
}

const octetOf = (ip: string): number => Number(ip.split('.')[3]);

describe.runIf(gate.run)('tenant VXLAN peers learned from the coordinator (real packets)', () => {
  let dir = '';
  let lab: NetLab;
  let store: Store | undefined;
  const nodes = new Map<NodeId, string>();
  const agents: AgentHandle[] = [];
  const loops: Array<Promise<void>> = [];
  const abort = new AbortController();
  let instances: Placed[] = [];
  let api: ApiClient;
  let closeCoordinator = (): void => undefined;
  /** Guest namespace of alpha on each node, and of beta on node-1. */
  const guest = { alpha1: '', alpha2: '', beta1: '' };
  const ipOf = { alpha1: '', alpha2: '', beta1: '' };

  const ns = (node: NodeId): string => nodes.get(node) ?? '';
  const observe = (node: NodeId): Promise<ObservedNetwork> =>
    new LinuxNetworkDriver({ runner, netns: ns(node) }).observe();
  const floodsTo = async (node: NodeId, netId: number): Promise<string[]> =>
    (await observe(node)).fdb
      .filter((e) => e.dev === vxlanName(netId) && e.mac === '00:00:00:00:00:00')
      .map((e) => e.dst ?? '')
      .sort();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-vxc-'));
    lab = new NetLab(dir);
    for (const node of ['node-1', 'node-2'] as const) nodes.set(node, await lab.namespace(node));
    const [u1, u2] = [UNDERLAY['node-1'], UNDERLAY['node-2']];
    await lab.link(ns('node-1'), 'ul0', `${u1}/24`, ns('node-2'), 'ul0', `${u2}/24`);

    store = await openStore(join(dir, 'coordinator.sqlite'));
    const coordinator = await inProcessCoordinator(store);
    api = coordinator.api;
    closeCoordinator = coordinator.close;
    const { placed, gateways } = await placeTenants(api);
    instances = placed;
    const key = (await api.call('getSigningKey', {})).publicKeyPem;

    for (const node of ['node-1', 'node-2'] as const) {
      const dataDir = join(dir, node);
      const config = testAgentConfig(
        dataDir,
        { MVM_NETWORK: 'on' },
        { netns: ns(node), underlayIp: UNDERLAY[node] },
      );
      const agent = await startAgent(config, {
        mode: 'runtime',
        vmm: noVmm,
        cgroups: null,
        logger: quiet,
      });
      agents.push(agent);
      // After the agent's start-up apply, which reaps mvm-named links nobody owns.
      for (const i of instances.filter((x) => x.nodeId === node)) {
        const netId = i.tenantId === 'alpha' ? ALPHA : BETA;
        const label = `${i.tenantId}${node.slice(-1)}` as keyof typeof guest;
        guest[label] = await lab.guest(ns(node), label, {
          tap: tapName(netId, octetOf(i.ip)),
          ip: i.ip,
          mac: i.mac,
          gateway: gateways.get(i.tenantId) ?? '',
        });
        ipOf[label] = i.ip;
      }
      loops.push(
        runAgentLoop({
          api,
          nodeId: node,
          trustedKeys: [key],
          production: true,
          runtime: agent.runtime,
          ...(agent.deps.network ? { network: agent.deps.network } : {}),
          store: new DesiredFileStore(join(dataDir, 'desired.json')),
          reporter: coordinatorReporter(api, node, quiet),
          clock: systemClock,
          logger: quiet,
          signal: abort.signal,
          // Passes follow documents only, so a drift made on purpose stays until we look.
          resyncMs: 600_000,
        }),
      );
    }
    for (const [node, peer] of [
      ['node-1', UNDERLAY['node-2']],
      ['node-2', UNDERLAY['node-1']],
    ] as const) {
      await waitUntil(
        async () => ((await floodsTo(node, ALPHA)).includes(peer) ? true : undefined),
        {
          clock: systemClock,
          timeoutMs: 30_000,
          intervalMs: 200,
          what: `${node} flooding alpha's VXLAN to ${peer}`,
        },
      );
    }
    await lab.serve(guest.alpha2, 'alpha2', PORT);
  }, 90_000);

  afterAll(async () => {
    abort.abort();
    closeCoordinator();
    await Promise.all(loops.map((loop) => loop.catch(() => undefined)));
    for (const agent of agents) await agent.close().catch(() => undefined);
    await store?.close();
    await lab?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('placed alpha on both nodes and beta on node-1 only', () => {
    const where = instances.map((i) => `${i.tenantId}@${i.nodeId ?? '-'}`).sort();
    expect(where).toEqual(['alpha@node-1', 'alpha@node-2', 'beta@node-1']);
  });

  it('guesses the underlay as the source of the route to the coordinator', async () => {
    const inNode1 = new NetnsProcessRunner(runner, ns('node-1'));
    expect(await detectUnderlayIp(`http://${UNDERLAY['node-2']}:8443`, inNode1)).toEqual({
      ip: UNDERLAY['node-1'],
    });
    const local = await detectUnderlayIp('http://localhost:8443', inNode1);
    expect(local.ip).toBeUndefined();
    expect('why' in local ? local.why : '').toContain('127.0.0.1');
  });

  it('peers alpha (only alpha) with the other node, at the underlay MTU less 50', async () => {
    const one = await observe('node-1');
    const vxlans = one.links.filter((l) => l.kind === 'vxlan').map((l) => [l.name, l.mtu]);
    expect(vxlans).toEqual([[vxlanName(ALPHA), 1450]]);
    expect(await floodsTo('node-1', ALPHA)).toEqual([UNDERLAY['node-2']]);
    expect(await floodsTo('node-2', ALPHA)).toEqual([UNDERLAY['node-1']]);
    for (const [index, node] of (['node-1', 'node-2'] as const).entries()) {
      const network = agents[index]?.deps.network;
      if (!network) throw new Error(`${node}'s agent runs without networking`);
      // What `mvm net verify` compares: the agent's own desired state against the kernel.
      expect(verifyNetwork(await network.desired(), await observe(node))).toEqual([]);
      expect(network.guestMtu).toBe(1450);
    }
  });

  it('puts back a VXLAN MTU changed behind its back', async () => {
    await lab.ip(ns('node-1'), ['link', 'set', 'dev', vxlanName(ALPHA), 'mtu', '1400']);
    const network = agents[0]?.deps.network;
    if (!network) throw new Error("node-1's agent runs without networking");
    const drift = verifyNetwork(await network.desired(), await observe('node-1'));
    expect(drift.map((v) => `${v.code} ${v.subject}`)).toEqual([
      `vxlan_misconfigured ${vxlanName(ALPHA)}`,
    ]);
    await network.sync();
    expect(verifyNetwork(await network.desired(), await observe('node-1'))).toEqual([]);
  });

  it('tells tenant guests the MTU that fits through VXLAN', async () => {
    const records = (await agents[0]?.runtime.list()) ?? [];
    const alpha = records.find((r) => r.tenantId === 'alpha');
    if (!alpha) throw new Error('no alpha record on node-1');
    expect(guestParams(alpha, agents[0]?.deps.network?.guestMtu)).toContain('mvm.mtu=1450');
  });

  it("carries alpha between the nodes, and keeps beta out of alpha's reach", async () => {
    expect(await lab.ping(guest.alpha1, ipOf.alpha2)).toBe(true);
    expect(await lab.ping(guest.alpha2, ipOf.alpha1)).toBe(true);
    expect(await lab.probe(guest.alpha1, 'tcp', ipOf.alpha2, PORT)).toBe(`alpha2 ${ipOf.alpha1}`);
    const fromBeta = await Promise.all([
      lab.ping(guest.beta1, ipOf.alpha2),
      lab.probe(guest.beta1, 'tcp', ipOf.alpha2, PORT),
      lab.probe(guest.beta1, 'udp', ipOf.alpha2, PORT),
      lab.ping(guest.beta1, ipOf.alpha1),
    ]);
    expect(fromBeta).toEqual([false, undefined, undefined, false]);
  });

  it('needs the guest MTU: full-size frames are dropped at VXLAN, 1450 gets through', async () => {
    const bigPing = (from: string, to: string) =>
      lab.exec(from, 'busybox', ['ping', '-c', '1', '-W', '2', '-s', '1472', to]);
    expect((await bigPing(guest.alpha1, ipOf.alpha2)).exitCode).not.toBe(0);
    for (const g of [guest.alpha1, guest.alpha2]) {
      await lab.ip(g, ['link', 'set', 'eth0', 'mtu', '1450']);
    }
    expect((await bigPing(guest.alpha1, ipOf.alpha2)).exitCode).toBe(0);
  });

  it("drops node-2 from node-1's flood list once node-2 no longer runs alpha", async () => {
    const onNode2 = instances.find((i) => i.tenantId === 'alpha' && i.nodeId === 'node-2');
    if (!onNode2) throw new Error('no alpha instance on node-2');
    await api.call('instanceAction', {
      params: { tenant: 'alpha', pool: 'web', instance: onNode2.id },
      body: { action: 'destroy' },
    });
    await waitUntil(
      async () => ((await floodsTo('node-1', ALPHA)).length === 0 ? true : undefined),
      {
        clock: systemClock,
        timeoutMs: 30_000,
        intervalMs: 200,
        what: "node-1 dropping alpha's VXLAN peer",
      },
    );
    const names = (await observe('node-1')).links.map((l) => l.name);
    expect(names).not.toContain(vxlanName(ALPHA));
    expect(names).toContain(tapName(ALPHA, octetOf(ipOf.alpha1)));
    expect(await lab.ping(guest.alpha1, ipOf.alpha2)).toBe(false);
    const network = agents[0]?.deps.network;
    if (!network) throw new Error("node-1's agent runs without networking");
    expect(verifyNetwork(await network.desired(), await observe('node-1'))).toEqual([]);
  });
});
