/**
 * The agent PROCESS (`node src/agent/main.ts`, networking on by default) run inside a test
 * node namespace, so that namespace is its "root": at start it rebuilds the tenant network
 * from its records and serves the metadata endpoint on 169.254.169.254 there. Guests are
 * veths in their own namespaces (no VMM is started); each gets its own identity over real
 * packets, and destroying the VMs takes bridges, rules and the endpoint's reachability away.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IDENTITY_PATH } from '../../src/agent/metadata-server.ts';
import { createAgentClient } from '../../src/cli/agent-client.ts';
import type { AgentClient } from '../../src/cli/agent-client.ts';
import { macFor } from '../../src/core/addresses.ts';
import { tapName } from '../../src/core/naming.ts';
import { verifyNetwork } from '../../src/core/net-invariants.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import type { SpawnedProcess } from '../../src/ports/process-runner.ts';
import { agentDataDir } from '../agent/agent-harness.ts';
import { tenantWorker } from './support/tenant-spec.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('agent metadata endpoint', [await netGate('agent metadata endpoint')]);

const AGENT_MAIN = join(import.meta.dirname, '..', '..', 'src', 'agent', 'main.ts');
const URL = `http://169.254.169.254${IDENTITY_PATH}`;
const spec = tenantWorker;
const a = { tenantId: 'acme', poolId: 'web', instanceId: 'vm-a' };
const c = { tenantId: 'zeta', poolId: 'db', instanceId: 'vm-c' };

describe.runIf(gate.run)('the agent process serves metadata on its tenant bridges', () => {
  let dataDir = '';
  let lab: NetLab | undefined;
  let node = '';
  let agent: SpawnedProcess | undefined;
  let client: AgentClient;
  const guests = { a: '', c: '' };

  /** The agent with the namespace as its whole world; ready once its socket answers. */
  const startAgent = async (): Promise<void> => {
    const args = ['netns', 'exec', node, process.execPath, '--import', 'tsx', AGENT_MAIN];
    agent = runner.spawn('ip', [...args, '--data-dir', dataDir], {
      logFile: join(dataDir, 'agent.log'),
      env: { MVM_QEMU_ACCEL: 'tcg' },
    });
    await waitUntil(
      () =>
        client.list().then(
          () => true,
          () => undefined,
        ),
      { clock: systemClock, timeoutMs: 30_000, intervalMs: 100, what: `agent on ${client.socket}` },
    );
  };
  const stopAgent = async (): Promise<void> => {
    agent?.kill('SIGKILL');
    await agent?.exited;
    agent = undefined;
  };

  afterAll(async () => {
    await stopAgent();
    await lab?.cleanup();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('rebuilds bridges from its records at start and answers each guest with its identity', async () => {
    dataDir = await agentDataDir('meta');
    client = createAgentClient(join(dataDir, 'agent.sock'), 30_000);
    lab = new NetLab(dataDir);
    node = await lab.namespace('agmeta');
    await startAgent();
    await client.put(a, { spec: spec(5, 3) });
    await client.put(c, { spec: spec(6, 3) });
    for (const [name, netId] of [
      ['a', 5],
      ['c', 6],
    ] as const) {
      const ip = `10.240.${netId}.3`;
      const wire = { tap: tapName(netId, 3), ip, mac: macFor(netId, 3) };
      guests[name] = await lab.guest(node, `agm-${name}`, {
        ...wire,
        gateway: `10.240.${netId}.1`,
      });
    }
    await stopAgent(); // a crash: the restarted agent must rebuild everything from its records
    await startAgent();
    const answer = await waitUntil(async () => lab?.httpGet(guests.a, URL), {
      clock: systemClock,
      timeoutMs: 10_000,
      intervalMs: 200,
      what: 'metadata answering guest a',
    });
    const identity = { tenant: 'acme', pool: 'web', instance: 'vm-a', ip: '10.240.5.3' };
    expect(answer.slice(0, 4)).toBe('200 ');
    expect(JSON.parse(answer.slice(4))).toEqual({ ...identity, revision: 'dev' });
    const other = await lab.httpGet(guests.c, URL);
    expect(other).toContain('"instance":"vm-c"');
  });

  it('reports its desired network, and the live namespace matches it', async () => {
    const network = await client.network();
    expect(network.enabled).toBe(true);
    expect(network.netns).toBeUndefined();
    expect(network.state.services?.metadata).toEqual({ ip: '169.254.169.254', port: 80 });
    expect(network.state.instances.map((i) => i.tap).sort()).toEqual(['mvt5-3', 'mvt6-3']);
    const observed = await new LinuxNetworkDriver({ runner, netns: node }).observe();
    expect(verifyNetwork(network.state, observed)).toEqual([]);
  });

  it('takes the bridges and rules away with the last VMs, and metadata with them', async () => {
    await client.act(a, 'destroy');
    await client.act(c, 'destroy');
    const observed = await new LinuxNetworkDriver({ runner, netns: node }).observe();
    expect(observed.links.filter((l) => l.name.startsWith('br-tenant-'))).toEqual([]);
    expect(observed.nft.tables).toEqual([]);
    expect(await lab?.httpGet(guests.a, URL)).toBeUndefined();
  });
});
