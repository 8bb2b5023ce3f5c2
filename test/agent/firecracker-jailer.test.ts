/**
 * Firecracker on the agent's own path runs under the jailer: the agent configured with
 * MVM_VMM=firecracker (confinement on by default) starts an instance's VMM as the instance's
 * own uid/gid, in a chroot holding only that instance's files, with Firecracker's seccomp
 * filters on, no capability, in the instance's cgroups. On this project's development host
 * no Firecracker guest boots (PVM /dev/kvm), so the checks run while the agent waits for the
 * guest; where guests boot, the start then completes. A jail no record owns, and the VMM
 * running in it, are reaped when the agent starts. Skips loudly without the binaries or root.
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { firecrackerGuestProblem } from '../../src/agent/load-vmm.ts';
import { startAgent } from '../../src/agent/start-agent.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { DEFAULT_UID_BASE } from '../../src/core/vm-identity.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { FirecrackerVmm } from '../../src/drivers/firecracker/firecracker-vmm.ts';
import { isAlive } from '../../src/drivers/process/process-control.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { devImage, guestSpec, testRunner } from '../support/qemu-guest.ts';
import { expectConfined } from '../support/vmm-confinement.ts';
import {
  firecrackerBin,
  hasKvm,
  jailerBin,
} from '../drivers/firecracker/support/firecracker-env.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';

const firecracker = firecrackerBin();
const jailer = jailerBin();
const kvm = hasKvm();
const isRoot = process.getuid?.() === 0;
const missing = !firecracker.ok
  ? firecracker.why
  : !jailer.ok
    ? jailer.why
    : !kvm.ok
      ? kvm.why
      : !isRoot
        ? 'the jailer needs root'
        : undefined;
if (missing) console.warn(`[skip] agent Firecracker under the jailer: ${missing}`);
const guestProblem = await firecrackerGuestProblem();

describe.skipIf(missing !== undefined)('agent: Firecracker under the jailer', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  async function agentIn(dataDir: string): Promise<AgentHandle> {
    const env = {
      MVM_VMM: 'firecracker',
      MVM_FIRECRACKER_BIN: firecracker.ok ? firecracker.value : '',
      MVM_NETWORK: 'off',
    };
    const agent = await startAgent(testAgentConfig(dataDir, env), {
      mode: 'runtime',
      logger: quietLogger,
      network: null,
      // Here the guest never answers: give up soon, the checks run while the agent waits.
      timeouts: { guestReadyMs: guestProblem ? 8_000 : 90_000 },
    });
    cleanup.push(() => agent.close());
    return agent;
  }

  async function newDataDir(): Promise<string> {
    const dir = await agentDataDir('fcj');
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it('jails the VMM it starts: instance uid, a chroot of its own files, seccomp, no capability, its cgroups', async () => {
    const dataDir = await newDataDir();
    const agent = await agentIn(dataDir);
    expect(await agent.deps.vmm.capabilities()).toMatchObject({ jailer: true, confined: true });
    const instance = ref('fcj');
    const spec = { ...workerSpec('10.240.99.41', '52:54:00:00:99:41'), network: false };
    const { key } = await agent.runtime.put(instance, { spec });
    const starting = agent.runtime.act(instance, 'start').catch((error: unknown) => error);
    const handle = await waitUntil(
      async () => (await agent.runtime.get(instance)).handle ?? undefined,
      {
        clock: systemClock,
        timeoutMs: 30_000,
        what: 'the VMM handle',
      },
    );
    const jailRoot = join(dataDir, 'jail', 'firecracker', key, 'root');
    const identity = { uid: DEFAULT_UID_BASE, gid: DEFAULT_UID_BASE };
    expect(handle.runAs).toEqual(identity);
    await expectConfined(handle.pid, identity, jailRoot);
    // The chroot holds this instance's kernel and drives, its sockets and logs, the jailer's
    // device nodes, and nothing else: no other instance's files, no host paths.
    const files = await listTree(jailRoot);
    expect(files.filter((f) => f.startsWith('drives/')).sort()).toEqual([
      'drives/data.img',
      'drives/mvm-init.img',
      'drives/rootfs.img',
      'drives/secrets.img',
    ]);
    const expected =
      /^(boot\/(vmlinux|initrd)|drives\/.*\.img|dev\/.*|firecracker(\.sock|\.log|\.metrics)?|vsock\.sock|run(\/.*)?)$/;
    expect(files.filter((f) => !expected.test(f))).toEqual([]);
    expect(await agent.deps.cgroups?.pids(key)).toContain(handle.pid);
    const outcome = await starting;
    if (guestProblem) {
      expect(String(outcome)).toMatch(/cold boot failed|did not answer|timed out/);
      expect(await isAlive(handle.pid, handle.pidStartTime)).toBe(false);
      expect(existsSync(jailRoot)).toBe(false);
    } else {
      expect(outcome).toMatchObject({ status: 'running' });
    }
    await agent.runtime.act(instance, 'destroy');
  }, 90_000);

  it('reaps, at start, a jail no record owns and the jailed VMM running in it', async () => {
    const dataDir = await newDataDir();
    const ghost = new FirecrackerVmm({
      firecrackerBin: firecracker.ok ? firecracker.value : '',
      runner: testRunner,
      clock: systemClock,
      timeouts: { gracefulStopMs: 300 },
      jailer: {
        jailerBin: jailer.ok ? jailer.value : '',
        uid: DEFAULT_UID_BASE + 7,
        gid: DEFAULT_UID_BASE + 7,
        chrootBaseDir: join(dataDir, 'jail'),
      },
    });
    const spec = guestSpec(await devImage(), join(dataDir, 'vms', 'mvm-ghost-fc'), {
      key: 'mvm-ghost-fc',
      memMib: 128,
      drives: [],
    });
    const vm = await ghost.start(spec);
    cleanup.push(() => ghost.stop(vm));
    const agent = await agentIn(dataDir);
    expect(agent.recovery.orphans.processes).toContain(vm.pid);
    // Reported once per instance: its dir and its jail both went.
    expect(agent.recovery.orphans.dirs).toEqual(['mvm-ghost-fc']);
    expect(await isAlive(vm.pid, vm.pidStartTime)).toBe(false);
    expect(existsSync(join(dataDir, 'jail', 'firecracker', 'mvm-ghost-fc'))).toBe(false);
  }, 60_000);
});

/** Every path under `dir`, relative, files and directories alike. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}
