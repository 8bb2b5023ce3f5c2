/**
 * A killed agent comes back and still controls its VMs. The agent runs as a REAL separate
 * process; one real guest (QEMU, TCG) is booted through the CLI, the agent is killed with
 * SIGKILL, a new agent on the same data dir adopts the VM (same QEMU pid, RAM counter still
 * advancing, same boot), removes orphans, and takes every CLI verb. Then a VMM that died
 * while no agent ran turns its instance `failed` with a reason.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/start-agent.ts';
import { vmKey } from '../../src/agent/runtime/vm-key.ts';
import type { LocalInstance, LocalLogs, LocalStats } from '../../src/contract/agent-api.ts';
import { HostCgroups } from '../../src/drivers/cgroups/host-cgroups.ts';
import { isAlive } from '../../src/drivers/process/process-control.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig } from './agent-harness.ts';
import { killHard, mvmJson, startAgentProcess } from './agent-process.ts';
import type { AgentProcess } from './agent-process.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('agent restart/adoption');

describe.runIf(gate.run)('a killed agent comes back and still controls its VMs', () => {
  const vm = ref('vm2');
  const path = 'acme/web/vm2';
  const key = vmKey(vm.tenantId, vm.poolId, vm.instanceId);
  const ghost = 'mvm-acme-web-ghost';
  const cgroups = new HostCgroups();
  let dataDir: string;
  let agent: AgentProcess | undefined;
  let qemuPid = 0;
  let before: LocalStats;

  const cli = (...args: string[]) => mvmJson(dataDir, args);
  const stats = async () => (await cli('agent', 'instance', 'stats', path)) as LocalStats;

  beforeAll(async () => {
    dataDir = await agentDataDir('rs');
  });

  afterAll(async () => {
    if (agent) await killHard(agent.child);
    if (qemuPid > 0 && (await isAlive(qemuPid))) process.kill(qemuPid, 'SIGKILL');
    await cgroups.remove(key).catch(() => undefined);
    await cgroups.remove(ghost).catch(() => undefined);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('agent process #1 (node src/agent/main.ts): the CLI creates and cold-boots a VM', async () => {
    agent = await startAgentProcess(dataDir, 'main');
    expect((await stat(join(dataDir, 'agent.sock'))).mode & 0o777).toBe(0o600);
    await cli(
      'agent',
      'instance',
      'put',
      path,
      '--ip',
      '10.240.99.8',
      '--mac',
      '52:54:00:00:99:08',
      '--data-disk-mib',
      '16',
    );
    const started = (await cli('agent', 'instance', 'start', path)) as LocalInstance;
    expect(started.status).toBe('running');
    qemuPid = started.pid ?? 0;
    expect(qemuPid).toBeGreaterThan(0);
    before = await stats();
    expect(before.guest?.ip).toBe('10.240.99.8');
    expect(before.cgroup?.pidInCgroup).toBe(true);
  });

  it('kill -9 of the agent leaves the VM running; orphans appear meanwhile', async () => {
    await killHard(agent!.child);
    agent = undefined;
    expect(await isAlive(qemuPid)).toBe(true);
    await mkdir(join(dataDir, 'vms', ghost, 'snapshots'), { recursive: true });
    await cgroups.create(ghost, { vcpus: 1, memMib: 64, pids: 16 });
  });

  it('agent process #2 (bin/mvm agent serve) adopts the VM: same pid, counter advancing, no reboot', async () => {
    agent = await startAgentProcess(dataDir, 'cli');
    const list = (await cli('agent', 'instance', 'list')) as LocalInstance[];
    expect(list).toHaveLength(1);
    const now = await waitUntil(
      async () => {
        const s = await stats();
        return (s.guest?.counter ?? 0) > (before.guest?.counter ?? 0) ? s : undefined;
      },
      {
        clock: systemClock,
        timeoutMs: 15_000,
        intervalMs: 300,
        what: 'the adopted guest counter to advance',
      },
    );
    expect(now).toMatchObject({ status: 'running', pid: qemuPid, vmState: 'running' });
    expect(now.guest?.bootId).toBe(before.guest?.bootId);
    expect(now.cgroup?.pidInCgroup).toBe(true);
  });

  it('orphans (a stray workdir and cgroup with the mvm prefix) were removed', async () => {
    await expect(stat(join(dataDir, 'vms', ghost))).rejects.toThrow();
    expect(await cgroups.list()).not.toContain(ghost);
    expect(await cgroups.list()).toContain(key);
  });

  it('the new agent controls the VM through every CLI verb', async () => {
    expect(((await cli('agent', 'instance', 'warm', path)) as LocalInstance).status).toBe('warm');
    expect((await stats()).vmState).toBe('paused');
    const resumed = (await cli('agent', 'instance', 'start', path)) as LocalInstance;
    expect(resumed).toMatchObject({ status: 'running', pid: qemuPid });
    const slept = (await cli('agent', 'instance', 'sleep', path)) as LocalInstance;
    expect(slept).toMatchObject({ status: 'sleeping', pid: null });
    expect(await isAlive(qemuPid)).toBe(false); // gone (at most a zombie of a dead parent)
    const woken = (await cli('agent', 'instance', 'wake', path)) as LocalInstance;
    expect(woken.status).toBe('running');
    qemuPid = woken.pid ?? 0;
    const after = await stats();
    expect(after.guest?.bootId).toBe(before.guest?.bootId);
    expect(after.guest?.counter).toBeGreaterThan(before.guest?.counter ?? 0);
    expect(after.spec).toEqual(before.spec);
    const logs = (await cli(
      'agent',
      'instance',
      'logs',
      path,
      '--console',
      '--lines',
      '500',
    )) as LocalLogs;
    expect(logs.lines.join('\n')).toContain('MVM-BOOT-OK');
  });

  it('a VMM that died while no agent ran makes the instance failed, with a reason', async () => {
    await killHard(agent!.child);
    agent = undefined;
    process.kill(qemuPid, 'SIGKILL');
    await waitUntil(async () => ((await isAlive(qemuPid)) ? undefined : true), {
      clock: systemClock,
      timeoutMs: 5_000,
      what: 'qemu to die',
    });
    const third = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      logger: quietLogger,
      network: null,
    });
    try {
      expect(third.recovery.failed).toEqual([key]);
      const record = await third.runtime.get(vm);
      expect(record).toMatchObject({ status: 'failed', handle: null });
      expect(record.failureReason).toMatch(/was gone when the agent restarted/);
      expect((await third.runtime.act(vm, 'destroy')).status).toBe('destroyed');
    } finally {
      await third.close();
    }
  });
});
