/**
 * A full disk under the state dir, for real: a small tmpfs (`size=`) mounted where the agent
 * writes a snapshot, or an instance's drives, with a real QEMU guest (TCG).
 * - a sleep that runs out of space leaves the guest running, no partial snapshot behind and
 *   the space given back, and says why; once there is room, the same sleep succeeds;
 * - a cold boot whose data drive does not fit fails with the reason, leaves no half-built
 *   drive and no VMM, and boots once there is room.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { errorMessage } from '../../src/core/errors.ts';
import { isAlive } from '../../src/drivers/process/process-control.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import {
  agentDataDir,
  quietLogger,
  ref,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('full disk');
const root = process.getuid?.() === 0;
if (gate.run && !root) console.warn('[skip] full disk: mounting a tmpfs needs root');

const runner = new NodeProcessRunner();

describe.runIf(gate.run && root)('a full disk under the state dir', () => {
  let dataDir = '';
  let agent: AgentHandle | undefined;
  const mounts: string[] = [];

  /** A tmpfs of `size` at `path` (created first), unmounted by the test or afterAll. */
  const fill = async (path: string, size: string): Promise<void> => {
    await mkdir(path, { recursive: true, mode: 0o700 });
    await runner.run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'mvm-full', path]);
    mounts.push(path);
  };
  const unfill = async (path: string): Promise<void> => {
    await runner.run('umount', [path]);
    mounts.splice(mounts.indexOf(path), 1);
  };
  const usedKib = async (path: string): Promise<number> => {
    const out = await runner.run('df', ['-k', '--output=used', path]);
    return Number(out.stdout.trim().split('\n').at(-1));
  };

  afterAll(async () => {
    if (agent) {
      for (const vm of await agent.runtime.list()) {
        await agent.runtime.act(ref(vm.instanceId), 'destroy').catch(() => undefined);
      }
      await agent.close();
    }
    for (const path of mounts.reverse()) await runner.run('umount', ['-l', path], { check: false });
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const open = async (): Promise<AgentHandle> => {
    dataDir ||= await agentDataDir('full');
    agent ??= await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      vmm: tcgVmm(),
      logger: quietLogger,
      network: null,
    });
    return agent;
  };

  it('a sleep out of space keeps the guest running, leaves no partial snapshot and says so', async () => {
    const a = await open();
    const vm = ref('fd1');
    await a.runtime.put(vm, { spec: workerSpec('10.240.97.7', '52:54:00:00:97:07') });
    const running = await a.runtime.act(vm, 'start');
    const pid = running.handle?.pid ?? 0;
    const snapshots = join(dataDir, 'vms', running.key, 'snapshots');
    await fill(snapshots, '4m');

    const failure = await a.runtime.act(vm, 'sleep').then(
      () => undefined,
      (error: unknown) => errorMessage(error),
    );
    expect(failure).toMatch(/sleep of '.*' failed, the instance was resumed and is running/);
    expect(failure).toMatch(/no space left on device|ENOSPC/i);
    const after = await a.runtime.get(vm);
    expect(after).toMatchObject({ status: 'running', intent: null, snapshot: null });
    expect(after.handle?.pid).toBe(pid);
    expect(await isAlive(pid)).toBe(true);
    expect((await a.deps.vmm.state(after.handle!)) === 'running').toBe(true);
    expect(await a.deps.guests.for(after.handle!).status()).toBeDefined();
    expect(await readdir(snapshots)).toEqual([]);
    expect(await usedKib(snapshots)).toBe(0);

    await unfill(snapshots);
    const asleep = await a.runtime.act(vm, 'sleep');
    expect(asleep.status).toBe('sleeping');
    expect(existsSync(join(asleep.snapshot?.dir ?? '', 'vm.state'))).toBe(true);
    await a.runtime.act(vm, 'destroy');
  }, 240_000);

  it('a data drive that does not fit fails the boot with the reason and leaves nothing half-built', async () => {
    const a = await open();
    const vm = ref('fd2');
    // 512 MiB of ext4 needs more metadata than the 256 KiB there is (16 MiB would fit).
    const spec = { ...workerSpec('10.240.97.8', '52:54:00:00:97:08'), dataDiskMib: 512 };
    const put = await a.runtime.put(vm, { spec });
    const drives = join(dataDir, 'vms', put.key, 'drives');
    await fill(drives, '256k');

    const failure = await a.runtime.act(vm, 'start').then(
      () => undefined,
      (error: unknown) => errorMessage(error),
    );
    expect(failure).toMatch(/no space left on device|ENOSPC|could not allocate/i);
    const failed = await a.runtime.get(vm);
    expect(failed).toMatchObject({ status: 'failed', handle: null });
    expect(failed.failureReason).toMatch(/^cold boot failed: /);
    expect(failed.failureReason).toMatch(/no space left on device|ENOSPC|could not allocate/i);
    expect((await readdir(drives)).filter((f) => f.includes('data'))).toEqual([]);

    await unfill(drives);
    const booted = await a.runtime.act(vm, 'start');
    expect(booted.status).toBe('running');
    expect(await isAlive(booted.handle?.pid ?? 0)).toBe(true);
    await a.runtime.act(vm, 'destroy');
  }, 240_000);
});
