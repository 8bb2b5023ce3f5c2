/**
 * The agent as configured by default (confinement on, the host's cgroups) with a real QEMU
 * guest under TCG: the VMM runs as the instance's own uid in its chroot with no capability
 * and seccomp on, in its cgroups with the limits of its spec; and a VMM that outgrows its
 * memory limit is killed by its own cgroup's OOM killer, which the serving agent reports as
 * the instance failing with that reason.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/start-agent.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { PIDS_PER_VM } from '../../src/agent/runtime/vm-spec.ts';
import { DEFAULT_UID_BASE } from '../../src/core/vm-identity.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { execText } from '../support/exec-output.ts';
import { expectConfined } from '../support/vmm-confinement.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';
import { gateOf } from '../support/gate.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

// Confinement and cgroups need root: missing, skipped loudly on a dev machine, failed in CI.
const gate = await qemuSuiteGate('agent VMM limits', [
  gateOf('agent VMM limits', process.getuid?.() === 0 ? [] : ['root']),
]);
const MiB = 1024 * 1024;

describe.skipIf(!gate.run)('agent: confined VMMs and their limits', () => {
  let dataDir = '';
  let agent: AgentHandle;
  const vm = ref('lim');

  beforeAll(async () => {
    dataDir = await agentDataDir('lim');
    const config = testAgentConfig(dataDir, { MVM_NETWORK: 'off', MVM_QEMU_ACCEL: 'tcg' });
    agent = await startAgent(config, {
      logger: quietLogger,
      network: null,
      timeouts: { exitCheckMs: 200 },
    });
    // No tap: this test touches no network device of the host.
    const spec = { ...workerSpec('10.240.99.40', '52:54:00:00:99:40'), network: false };
    await agent.runtime.put(vm, { spec });
  });

  afterAll(async () => {
    await agent?.runtime.destroyAll().catch(() => undefined);
    await agent?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('runs the VMM as the instance user, chrooted, seccomp on, no capability, within its limits', async () => {
    const record = await agent.runtime.act(vm, 'start');
    const handle = record.handle;
    if (!handle) throw new Error('no VMM handle after start');
    // The first identity slot of this agent: uid = gid = base + 0.
    const identity = { uid: DEFAULT_UID_BASE, gid: DEFAULT_UID_BASE };
    expect(handle.runAs).toEqual(identity);
    const seen = await expectConfined(handle.pid, identity, join(handle.workDir, 'jail'));
    // Only what -chroot/-runas used before QEMU dropped to its user (setpriv's bounding set).
    expect(seen.threads[0]?.capBnd).toBe((1n << 6n) | (1n << 7n) | (1n << 18n));

    const overhead = (await agent.deps.vmm.capabilities()).memOverheadMib;
    const limits = await limitFiles(record.key);
    expect(limits.memory).toBe((256 + overhead) * MiB);
    expect(limits.cpuQuotaUs).toBe(100_000);
    expect(limits.pids).toBe(PIDS_PER_VM);
    expect(await agent.deps.cgroups?.pids(record.key)).toContain(handle.pid);
  });

  it('a VMM outgrowing its memory limit is OOM-killed in its cgroup; the agent fails the instance and says why', async () => {
    const record = await agent.runtime.get(vm);
    const handle = record.handle;
    if (!handle) throw new Error('no running VMM');
    const memory = await memoryDir(record.key);
    // The VMM outgrows its limit: the test pulls the limit to just above what it uses now,
    // then the guest touches the rest of its RAM.
    const used = Number(await readFile(join(memory.dir, memory.usage), 'utf8'));
    await writeFile(join(memory.dir, memory.limit), String(used + 24 * MiB));
    const hog =
      "a=$(sed -n 's/^MemAvailable: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo); " +
      'dd if=/dev/zero of=/dev/null bs=$((a - 12288))k count=1';
    void execText(agent.deps.guests.for(handle), { argv: ['sh', '-c', hog] }).catch(
      () => undefined,
    );
    const failed = await waitUntil(
      async () => {
        const now = await agent.runtime.get(vm);
        return now.status === 'failed' ? now : undefined;
      },
      { clock: systemClock, timeoutMs: 60_000, intervalMs: 200, what: 'the instance to fail' },
    );
    expect(failed.failureReason).toMatch(
      new RegExp(`VMM process ${handle.pid} was killed by the out-of-memory killer of its cgroup`),
    );
    expect(failed.failureReason).toMatch(/memory limit of \d+ MiB \(guest RAM 256 MiB/);
    expect(failed.handle).toBeNull();
    expect(await agent.deps.vmm.state(handle)).toBe('exited');
    // The failed instance starts again, cold, with its full limit.
    const again = await agent.runtime.act(vm, 'start');
    expect(again.status).toBe('running');
    expect((await limitFiles(again.key)).memory).toBeGreaterThan(256 * MiB);
  });
});

interface Limits {
  memory: number;
  cpuQuotaUs: number;
  pids: number;
}

/** The limits as written in whichever hierarchy holds each controller on this host. */
async function limitFiles(key: string): Promise<Limits> {
  const dirs = [
    join('/sys/fs/cgroup/unified/mvm.slice', key),
    join('/sys/fs/cgroup/mvm.slice', key),
    ...['cpu', 'memory', 'pids'].map((c) => join('/sys/fs/cgroup', c, 'mvm.slice', key)),
  ];
  const read = async (...files: string[]): Promise<string> => {
    for (const dir of dirs) {
      for (const file of files) {
        if (existsSync(join(dir, file))) return (await readFile(join(dir, file), 'utf8')).trim();
      }
    }
    throw new Error(`none of ${files.join(', ')} in the cgroups of ${key}`);
  };
  const cpu = await read('cpu.cfs_quota_us', 'cpu.max');
  return {
    memory: Number(await read('memory.limit_in_bytes', 'memory.max')),
    cpuQuotaUs: Number(cpu.split(' ')[0]),
    pids: Number(await read('pids.max')),
  };
}

async function memoryDir(key: string): Promise<{ dir: string; usage: string; limit: string }> {
  const v1 = join('/sys/fs/cgroup/memory/mvm.slice', key);
  if (existsSync(v1))
    return { dir: v1, usage: 'memory.usage_in_bytes', limit: 'memory.limit_in_bytes' };
  for (const mount of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    const dir = join(mount, 'mvm.slice', key);
    if (existsSync(join(dir, 'memory.max')))
      return { dir, usage: 'memory.current', limit: 'memory.max' };
  }
  throw new Error(`no memory cgroup for ${key}`);
}
