/**
 * `mvm tenant update --egress on|off` end to end, without a guest: a real coordinator, an
 * agent following it with the real Linux network driver inside a test node namespace, and a
 * stopped instance of the tenant placed there (its tap, bridge and rules exist, nothing
 * boots). The switch goes coordinator → signed document → the agent's records → nftables: the
 * tenant's masquerade rule appears, then disappears, and verify stays clean throughout.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { bridgeName } from '../../src/core/naming.ts';
import { verifyNetwork } from '../../src/core/net-invariants.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import { NetnsProcessRunner } from '../../src/drivers/process/netns-process-runner.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import { testAgentConfig } from '../agent/agent-harness.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('tenant egress switch', [await netGate('tenant egress switch')]);

const NET_ID = 214;
const quiet = pino({ level: 'silent' });

describe.runIf(gate.run)('the tenant egress switch reaches nftables', () => {
  let dir = '';
  let lab: NetLab | undefined;
  let node = '';
  let coordinator: RunningCoordinator | undefined;
  let agent: AgentHandle | undefined;
  let api: ApiClient;

  const observe = () => new LinuxNetworkDriver({ runner, netns: node }).observe();
  const masquerades = async (): Promise<string[]> =>
    (await observe()).nft.rules
      .filter((r) => r.signature.includes('masquerade'))
      .map((r) => r.signature);
  const converge = async () => {
    const steps = (await agent?.link?.convergeOnce()) ?? [];
    expect(steps.filter((s) => s.error !== undefined)).toEqual([]);
  };
  const clean = async () => {
    const network = agent?.deps.network;
    if (!network) throw new Error('the agent runs without networking');
    expect(verifyNetwork(await network.desired(), await observe())).toEqual([]);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-egress-'));
    lab = new NetLab(dir);
    node = await lab.namespace('egress');
    coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(dir, 'coordinator.sqlite'),
        clusterCidr: '10.240.0.0/12',
        dataDir: join(dir, 'coordinator'),
        nodeLostAfterMs: 3_600_000,
      },
      { logger: quiet },
    );
    const token = (await readFile(join(dir, 'coordinator', 'admin.token'), 'utf8')).trim();
    api = createApiClient({ baseUrl: coordinator.url, token });
    await api.call('registerNode', {
      params: { node: 'node-e' },
      body: { hostname: 'e', arch: 'x86_64', capacity: { vcpus: 4, memMib: 4096, diskGib: 10 } },
    });
    await api.call('createTenant', { body: { id: 'out', netId: NET_ID } });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await api.call('createPool', { params: { tenant: 'out' }, body: pool });
    const [instance] = (
      await api.call('scalePool', { params: { tenant: 'out', pool: 'web' }, body: { running: 1 } })
    ).created;
    // Placed on node-e, then stopped before any agent saw it: it never boots.
    await api.call('instanceAction', {
      params: { tenant: 'out', pool: 'web', instance: instance?.id ?? 'missing' },
      body: { action: 'stop' },
    });
    const config = testAgentConfig(
      join(dir, 'agent'),
      { MVM_NETWORK: 'on', MVM_SECRETS_DIR: join(dir, 'secrets') },
      { netns: node, coordinator: coordinator.url, token, node: 'node-e' },
    );
    const vmm = new QemuVmm({ runner: new NetnsProcessRunner(runner, node), accel: 'tcg' });
    agent = await startAgent(config, { vmm, logger: quiet, metadata: null, follow: false });
  }, 60_000);

  afterAll(async () => {
    await agent?.close().catch(() => undefined);
    await coordinator?.close();
    await lab?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts without egress: the bridge and its rules, but no masquerade', async () => {
    await converge();
    const [record] = (await agent?.runtime.list()) ?? [];
    expect(record).toMatchObject({
      status: 'stopped',
      spec: { tenant: { netId: NET_ID, egress: false } },
    });
    const links = (await observe()).links.map((l) => l.name);
    expect(links).toContain(bridgeName(NET_ID));
    expect(await masquerades()).toEqual([]);
    await clean();
  });

  it('--egress on: the tenant gets its masquerade rule and forwarding is on', async () => {
    await api.call('updateTenant', { params: { tenant: 'out' }, body: { egress: true } });
    await converge();
    expect(await masquerades()).toEqual([
      `ip saddr 10.240.${NET_ID}.0/24 ; oifname != br-tenant-* ; masquerade # t${NET_ID}`,
    ]);
    expect((await observe()).ipForward).toBe(true);
    await clean();
  });

  it('--egress off: the rule is gone again, the rest of the tenant network stays', async () => {
    await api.call('updateTenant', { params: { tenant: 'out' }, body: { egress: false } });
    await converge();
    expect(await masquerades()).toEqual([]);
    expect((await observe()).links.map((l) => l.name)).toContain(bridgeName(NET_ID));
    await clean();
  });
});
