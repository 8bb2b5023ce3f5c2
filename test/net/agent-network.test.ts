/**
 * The host agent with tenant networking on, all of it inside a test node namespace: the
 * Linux driver and a REAL QEMU guest (TCG, one boot) run there. Proves the agent creates the
 * guest's tap on br-tenant-<netId> before the VMM opens it, the gateway pings the guest, a
 * second tenant cannot, `mvm net verify` (asking the agent for its state) is clean and sees
 * drift, a restarted agent repairs it without duplicating a rule, and destroying a tenant's
 * last VM removes its bridge, tap and rules.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent as startAgentRoot } from '../../src/agent/start-agent.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { macFor } from '../../src/core/addresses.ts';
import { bridgeName, tapName } from '../../src/core/naming.ts';
import { verifyNetwork } from '../../src/core/net-invariants.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import { NetnsProcessRunner } from '../../src/drivers/process/netns-process-runner.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import type { ObservedNetwork } from '../../src/ports/network.ts';
import { agentDataDir, quietLogger, testAgentConfig } from '../agent/agent-harness.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { tenantWorker } from './support/tenant-spec.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';
import { tearDownNetnsAgent } from './support/netns-agent-teardown.ts';

const gate = await qemuSuiteGate('agent tenant networking', [
  await netGate('agent tenant networking'),
]);

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const spec = tenantWorker;
const vm = { tenantId: 'acme', poolId: 'web', instanceId: 'vm1' };
/** Tenant 6's instance is never booted: a veth in a guest namespace stands in for it. */
const other = { tenantId: 'zeta', poolId: 'web', instanceId: 'vm2' };
const VM_IP = '10.240.5.3';

describe.runIf(gate.run)('the agent wires a real guest into its tenant network', () => {
  let dataDir = '';
  let lab: NetLab | undefined;
  let node = '';
  let stranger = '';
  let agent: AgentHandle | undefined;
  let vmm: QemuVmm | undefined;

  const observe = (): Promise<ObservedNetwork> =>
    new LinuxNetworkDriver({ runner, netns: node }).observe();
  const requireAgent = (): AgentHandle => {
    if (!agent) throw new Error('the agent is not running');
    return agent;
  };
  const startAgent = async (): Promise<AgentHandle> => {
    vmm ??= new QemuVmm({ runner: new NetnsProcessRunner(runner, node), accel: 'tcg' });
    // As `mvm agent serve --netns <node>` runs it: tenant networking inside that namespace.
    const config = testAgentConfig(dataDir, { MVM_NETWORK: 'on' }, { netns: node });
    agent = await startAgentRoot(config, { vmm, logger: quietLogger });
    return agent;
  };
  const verifyCli = (...extra: string[]) =>
    runner.run(process.execPath, ['--import', 'tsx', MAIN, 'net', 'verify', ...extra], {
      check: false,
      timeoutMs: 30_000,
      env: { MVM_AGENT_SOCKET: requireAgent().config.socket },
    });
  const ruleSignatures = async (): Promise<string[]> =>
    (await observe()).nft.rules.map((r) => `${r.table}/${r.chain}: ${r.signature}`).sort();

  afterAll(async () => {
    await tearDownNetnsAgent({ agent, vmm, lab, dataDir });
  });

  it('boots a guest whose tap the agent put on br-tenant-5; the gateway pings it', async () => {
    dataDir = await agentDataDir('net');
    lab = new NetLab(dataDir);
    node = await lab.namespace('agnode');
    const agent = await startAgent();
    const record = await agent.runtime.put(vm, { spec: spec(5, 3) });
    await agent.runtime.put(other, { spec: spec(6, 3) });
    expect(record.spec.tap).toBe(tapName(5, 3));
    // Created after the agent's start-up apply, which would reap an unowned mvt link.
    stranger = await lab.guest(node, 'agx', {
      tap: tapName(6, 3),
      ip: '10.240.6.3',
      mac: macFor(6, 3),
      gateway: '10.240.6.1',
    });
    expect((await agent.runtime.act(vm, 'start')).status).toBe('running');
    const links = new Map((await observe()).links.map((l) => [l.name, l]));
    expect(links.get(tapName(5, 3))).toMatchObject({ kind: 'tun', master: bridgeName(5) });
    expect(links.get(tapName(6, 3))?.master).toBe(bridgeName(6));
    expect(links.get(bridgeName(5))?.addresses).toContain('10.240.5.1/24');
    await waitUntil(async () => ((await lab?.ping(node, VM_IP)) ? true : undefined), {
      clock: systemClock,
      timeoutMs: 60_000,
      intervalMs: 500,
      what: `guest ${VM_IP} answering its gateway on ${bridgeName(5)}`,
    });
  }, 180_000);

  it('is unreachable from the other tenant, which still reaches its own gateway', async () => {
    expect(await lab?.ping(stranger, '10.240.6.1')).toBe(true);
    expect(await lab?.ping(stranger, VM_IP)).toBe(false);
  });

  it("is clean under verify against the agent's own state, and `mvm net verify` agrees", async () => {
    const network = requireAgent().deps.network;
    if (!network) throw new Error('the agent runs without networking');
    expect(verifyNetwork(await network.desired(), await observe())).toEqual([]);
    const result = await verifyCli('--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ ok: true, violations: [] });
  });

  it('reports drift, and a restarted agent rebuilds from state without duplicating a rule', async () => {
    const before = await ruleSignatures();
    await lab?.ip(node, ['link', 'set', tapName(5, 3), 'nomaster']);
    const drift = await verifyCli();
    expect(drift.exitCode).toBe(5);
    expect(drift.stderr).toContain(`port_detached ${tapName(5, 3)}`);

    await requireAgent().close();
    const restarted = await startAgent();
    expect(restarted.recovery.adopted).toEqual([restarted.runtime.keyOf(vm)]);
    await restarted.deps.network?.sync(); // and once more: still no rule twice
    expect(await ruleSignatures()).toEqual(before);
    expect((await verifyCli()).exitCode).toBe(0);
    expect(await lab?.ping(node, VM_IP)).toBe(true);
  });

  it("removes a tenant's bridge, tap and rules with its last VM", async () => {
    const agent = requireAgent();
    await agent.runtime.act(vm, 'destroy');
    let observed = await observe();
    const names = observed.links.map((l) => l.name);
    expect(names).not.toContain(bridgeName(5));
    expect(names).not.toContain(tapName(5, 3));
    expect(names).toContain(bridgeName(6));
    expect(observed.nft.rules.filter((r) => r.tag === 't5')).toEqual([]);
    expect(observed.nft.rules.some((r) => r.tag === 't6')).toBe(true);
    expect(await lab?.ping(node, VM_IP)).toBe(false);

    await agent.runtime.act(other, 'destroy');
    observed = await observe();
    expect(observed.links.filter((l) => l.name.startsWith('br-tenant-'))).toEqual([]);
    expect(observed.nft.tables).toEqual([]);
    expect((await verifyCli()).exitCode).toBe(0);
  });
});
