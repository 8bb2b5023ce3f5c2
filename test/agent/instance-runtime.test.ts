/**
 * The agent's instance runtime against ONE real guest (QEMU, TCG), in ordered steps, two
 * boots in all: cold boot, cgroup membership, warm/resume, an injected failed sleep, sleep ->
 * wake (RAM counter continues, no reboot, same IP/MAC/tap), data and secrets drives across
 * sleep/wake and stop/start. Witnesses: the guest's RAM counter, boot_id, uptime, and drive
 * images read on the host with debugfs.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuestStatusV2 } from '../../src/contract/guest-protocol-v2.ts';
import { guestOf } from '../../src/agent/runtime/guest-access.ts';
import { execText } from '../support/exec-output.ts';
import { startAgent } from '../../src/agent/start-agent.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { collectStats } from '../../src/agent/runtime/stats.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import {
  FlakyVmm,
  agentDataDir,
  debugfsCat,
  drivePath,
  quietLogger,
  ref,
  secretsDrivePath,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('agent instance runtime');

describe.runIf(gate.run)('agent instance runtime with a real guest', () => {
  const vm1 = ref('vm1');
  const vmm = new FlakyVmm(tcgVmm());
  let dataDir: string;
  let agent: AgentHandle;
  let record: VmRecord;

  const guest = () => {
    if (!record.handle) throw new Error(`no VMM handle (status ${record.status})`);
    return agent.deps.guests.for(record.handle);
  };
  const counterAbove = (value: number): Promise<GuestStatusV2> =>
    waitUntil(
      async () => {
        const status = await guest().status();
        return status.counter > value ? status : undefined;
      },
      {
        clock: systemClock,
        timeoutMs: 10_000,
        intervalMs: 200,
        what: `guest counter above ${value}`,
      },
    );
  const act = async (action: Parameters<typeof agent.runtime.act>[1]) => {
    record = await agent.runtime.act(vm1, action);
    return record;
  };
  const dataFile = () => drivePath(dataDir, record.key, 'data.ext4');
  const secretsFile = () => secretsDrivePath(agent.deps.layout, record.key);

  beforeAll(async () => {
    dataDir = await agentDataDir('rt');
    agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      vmm,
      logger: quietLogger,
      network: null,
      // A busy guest's drain waits this long before the sleep gives up.
      timeouts: { sleepPrepMs: 1_500 },
    });
    record = await agent.runtime.put(vm1, {
      spec: workerSpec('10.240.99.7', '52:54:00:00:99:07'),
      secrets: { API_KEY: 'first-secret' },
    });
  });

  afterAll(async () => {
    if (agent) {
      await agent.runtime.act(vm1, 'destroy').catch(() => undefined);
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('create is idempotent; start cold-boots and the guest agent answers', async () => {
    const again = await agent.runtime.put(vm1, {
      spec: workerSpec('10.240.99.7', '52:54:00:00:99:07'),
      secrets: { API_KEY: 'first-secret' },
    });
    expect(again.version).toBe(record.version);
    expect(record.status).toBe('created');
    await act('start');
    expect(record.status).toBe('running');
    expect(await guest().ping()).toMatchObject({ ok: true, ready: true });
    const status = await guest().status();
    expect(status).toMatchObject({ hostname: 'vm1', ip: '10.240.99.7' });
    expect(record.spec.tap).toMatch(/^mvm-[0-9a-f]{11}$/);
  });

  it('the VMM process is in the instance cgroup (pid listed in cgroup.procs)', async () => {
    const stats = await collectStats(agent.deps, record);
    expect(stats.cgroup, 'this host has no cgroup2 mount').not.toBeNull();
    const procs = await readFile(join(stats.cgroup?.dir ?? '', 'cgroup.procs'), 'utf8');
    expect(procs.split('\n').map(Number)).toContain(record.handle?.pid);
    expect(stats.cgroup?.pidInCgroup).toBe(true);
    expect(stats.guest?.ip).toBe('10.240.99.7');
  });

  it('warm freezes the guest; start resumes it without a reboot', async () => {
    const before = await guest().status();
    await act('warm');
    expect(record.status).toBe('warm');
    expect(await vmm.state(record.handle!)).toBe('paused');
    await sleep(2_500); // observation window: the RAM counter must not tick while warm
    await act('start');
    expect(record.status).toBe('running');
    const after = await guest().status();
    expect(after.boot_id).toBe(before.boot_id);
    expect(after.counter - before.counter).toBeLessThanOrEqual(1);
    await counterAbove(after.counter);
  });

  it('a failed sleep (snapshot write fails) leaves the VM running', async () => {
    const before = await guest().status();
    const pid = record.handle?.pid;
    vmm.failSnapshots = true;
    try {
      await expect(act('sleep')).rejects.toThrow(/resumed and is running.*injected/);
    } finally {
      vmm.failSnapshots = false;
    }
    record = await agent.runtime.get(vm1);
    expect(record).toMatchObject({ status: 'running', snapshot: null, intent: null });
    expect(record.handle?.pid).toBe(pid);
    expect(await vmm.state(record.handle!)).toBe('running');
    const after = await counterAbove(before.counter);
    expect(after.boot_id).toBe(before.boot_id);
  });

  it('exec through the runtime; a busy guest is not slept unless forced', async () => {
    const run = await agent.runtime.exec(vm1, { argv: ['sh', '-c', 'echo $((6 * 7)); sleep 60'] });
    const first = await new Promise<string>((resolve) =>
      run.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())),
    );
    expect(first).toBe('42\n');
    await expect(act('sleep')).rejects.toThrow(/still busy after a 1500 ms drain \(commands: sh\)/);
    record = await agent.runtime.get(vm1);
    expect(record).toMatchObject({ status: 'running', intent: null });
    record = await agent.runtime.act(vm1, 'sleep', { force: true });
    expect(record.status).toBe('sleeping');
    await expect(run.exit).rejects.toThrow(/closed/);
    await expect(agent.runtime.exec(vm1, { argv: ['true'] })).rejects.toThrow(
      /is sleeping, not running/,
    );
    await act('start');
    // The snapshot kept the command in the guest's memory; the woken guest's agent, greeted by
    // a new host, ends what the old one ran.
    const left = await execText(guestOf(agent.deps, record), {
      argv: ['sh', '-c', "ps -o args | grep -cx 'sleep 60' || true"],
    });
    expect(left.stdout).toBe('0\n');
  });

  it('sleep -> wake: counter continues, uptime not reset, same IP/MAC/tap, data kept', async () => {
    const before = await guest().status();
    const spec = record.spec;
    await act('sleep');
    expect(record).toMatchObject({ status: 'sleeping', handle: null });
    await expect(stat(secretsFile())).rejects.toThrow(/ENOENT/);
    expect(record.snapshot?.dir).toMatch(/\/snapshots\/\d+$/);
    expect((await stat(join(record.snapshot!.dir, 'vm.state'))).size).toBeGreaterThan(1 << 20);
    // sleep-prep made the guest write its counter to the data drive before the snapshot.
    const onDisk = Number(await debugfsCat(dataFile(), '.mvm-last-sleep'));
    expect(onDisk).toBeGreaterThanOrEqual(before.counter);

    await act('wake');
    expect(record.status).toBe('running');
    expect(record.snapshot).toBeNull();
    expect(record.spec).toEqual(spec);
    const after = await guest().status();
    expect(after.boot_id).toBe(before.boot_id);
    expect(after.ip).toBe('10.240.99.7');
    expect(after.counter).toBeGreaterThanOrEqual(before.counter);
    expect(after.uptime_s).toBeGreaterThanOrEqual(before.uptime_s);
    await counterAbove(after.counter);
    expect(Number(await debugfsCat(dataFile(), '.mvm-last-sleep'))).toBe(onDisk);
    // The secrets drive was rebuilt for the wake with the same secrets: the guest kept its mount.
    expect(after.remounts).toBe(before.remounts);
  });

  it('new secrets: the secrets drive is rebuilt on wake (start on sleeping wakes, no reboot)', async () => {
    expect(await debugfsCat(secretsFile(), 'API_KEY')).toBe('first-secret');
    const bootId = (await guest().status()).boot_id;
    const remountsBefore = (await guest().status()).remounts;
    record = await agent.runtime.put(vm1, {
      spec: workerSpec('10.240.99.7', '52:54:00:00:99:07'),
      secrets: { API_KEY: 'rotated-secret' },
    });
    expect(record.spec.secretsVersion).toBe(2);
    await act('sleep');
    await act('start'); // pathTo(sleeping, running) is a wake, not a cold boot
    const woken = await guest().status();
    expect(woken.boot_id).toBe(bootId);
    // New secrets, new digest: the guest dropped its cached view and mounted the new drive.
    expect(woken.remounts).toBe(remountsBefore + 1);
    expect(await debugfsCat(secretsFile(), 'API_KEY')).toBe('rotated-secret');
    expect((await stat(secretsFile())).mode & 0o777).toBe(0o600);
  });

  it('stop -> start: a cold boot that keeps the data drive', async () => {
    const bootId = (await guest().status()).boot_id;
    await act('stop');
    expect(record).toMatchObject({ status: 'stopped', handle: null, snapshot: null });
    // No VMM holds it any more: the secrets drive (values in clear, on tmpfs) is gone.
    await expect(stat(secretsFile())).rejects.toThrow(/ENOENT/);
    const written = Number(await debugfsCat(dataFile(), '.mvm-last-sleep'));
    expect(written).toBeGreaterThan(0);
    await act('start');
    expect(record.status).toBe('running');
    expect((await guest().status()).boot_id).not.toBe(bootId);
    expect(Number(await debugfsCat(dataFile(), '.mvm-last-sleep'))).toBe(written);
  });

  it('destroy removes the VMM, drives, cgroup, dir and record', async () => {
    const pid = record.handle!.pid;
    const stats = await collectStats(agent.deps, record);
    await act('destroy');
    expect(record.status).toBe('destroyed');
    await expect(agent.runtime.get(vm1)).rejects.toThrow(/not found/);
    await expect(stat(join(dataDir, 'vms', record.key))).rejects.toThrow();
    await expect(stat(secretsFile())).rejects.toThrow(/ENOENT/);
    if (stats.cgroup) await expect(stat(stats.cgroup.dir)).rejects.toThrow();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
