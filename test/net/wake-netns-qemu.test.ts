/**
 * Wake on connect for an agent started with `--netns`, with real QEMU guests (TCG): the agent
 * runs in this test's (the host's) namespace, its tenant network, VMMs, wake trap and holding
 * listeners in a node namespace of their own (the listeners' sockets bound there by the
 * helper and handed over, the woken guest dialed through the namespace's dialer). A target
 * serving port 8080 sleeps; a connection from a same-tenant client succeeds on its first
 * attempt, wakes it once from its snapshot (same boot id), and the node says it wakes on
 * connect (what lets the coordinator's idle policy lower such pools; the coordinator side:
 * published-wake-qemu.test.ts in e2e).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import type { WakeService } from '../../src/agent/wake/wake-service.ts';
import { NetnsProcessRunner } from '../../src/drivers/process/netns-process-runner.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import { agentDataDir, quietLogger, testAgentConfig } from '../agent/agent-harness.ts';
import { collect } from '../support/exec-output.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { WAKE_TARGET_IP, wakeSpec } from './support/wake-lab.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';
import { tearDownNetnsAgent } from './support/netns-agent-teardown.ts';

const gate = await qemuSuiteGate('wake on connect under an agent netns', [
  await netGate('wake on connect under an agent netns'),
]);

const ref = (instanceId: string) => ({ tenantId: 'acme', poolId: 'web', instanceId });
const TARGET = ref('target');
const CLIENT = ref('client');

describe.runIf(gate.run)('wake on connect of an agent with --netns', () => {
  let dataDir = '';
  let lab: NetLab | undefined;
  let agent: AgentHandle | undefined;
  let vmm: QemuVmm | undefined;
  let bootId = '';

  const wake = (): WakeService => {
    const service = agent?.deps.wake as WakeService | undefined;
    if (!service) throw new Error('the agent runs no wake service');
    return service;
  };
  const sh = async (instance: typeof TARGET, script: string): Promise<string> => {
    const exec = await agent!.runtime.exec(instance, { argv: ['sh', '-c', script] });
    const [out] = await Promise.all([collect(exec.stdout), collect(exec.stderr)]);
    await exec.exit;
    return out.toString().trim();
  };

  afterAll(async () => {
    await tearDownNetnsAgent({ agent, vmm, lab, dataDir });
  }, 120_000);

  it('boots a target serving 8080 and a client inside the namespace; the node wakes on connect', async () => {
    dataDir = await agentDataDir('nnswake');
    lab = new NetLab(dataDir);
    const node = await lab.namespace('nnsnode');
    vmm = new QemuVmm({ runner: new NetnsProcessRunner(runner, node), accel: 'tcg' });
    const config = testAgentConfig(dataDir, { MVM_NETWORK: 'on' }, { netns: node });
    agent = await startAgent(config, { vmm, logger: quietLogger });
    // The heartbeats' `wakeOnConnect` follows this: the coordinator lowers only where it is set.
    expect(wake()).toBeDefined();
    await agent.runtime.put(TARGET, { spec: wakeSpec(2, { servicePorts: [8080] }) });
    await agent.runtime.put(CLIENT, { spec: wakeSpec(3) });
    for (const instance of [TARGET, CLIENT]) {
      const started = await agent.runtime.act(instance, 'start');
      expect(started.status, started.failureReason ?? '').toBe('running');
    }
    await sh(TARGET, 'mkdir -p /tmp/www && echo hello > /tmp/www/index.html');
    await sh(TARGET, 'httpd -p 8080 -h /tmp/www');
    expect(await sh(CLIENT, `wget -qO- http://${WAKE_TARGET_IP}:8080/`)).toBe('hello');
    bootId = await sh(TARGET, 'cat /proc/sys/kernel/random/boot_id');
    expect(bootId).toMatch(/^[0-9a-f-]{36}$/);
  }, 900_000);

  it('arms the trap in the namespace when the target sleeps', async () => {
    expect((await agent!.runtime.act(TARGET, 'sleep')).status).toBe('sleeping');
    expect(wake().isArmed(agent!.runtime.keyOf(TARGET))).toBe(true);
    expect(wake().wakeCount).toBe(0);
  }, 300_000);

  it('serves a same-tenant connection on its first attempt by waking the target once', async () => {
    // No retry: a failed first attempt prints `failed`.
    const answer = await sh(CLIENT, `wget -qO- http://${WAKE_TARGET_IP}:8080/ 2>&1 || echo failed`);
    expect(answer).toBe('hello');
    expect(wake().wakeCount).toBe(1);
    expect((await agent!.runtime.get(TARGET)).status).toBe('running');
    expect(wake().isArmed(agent!.runtime.keyOf(TARGET))).toBe(false);
    expect(await sh(TARGET, 'cat /proc/sys/kernel/random/boot_id')).toBe(bootId);
  }, 300_000);
});
