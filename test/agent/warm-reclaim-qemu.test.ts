/**
 * `MVM_WARM_RECLAIM=on` with a real guest (QEMU, TCG) in the agent's own runtime: before the
 * pause, the guest drops its page cache and its free-page reporting hands those pages to the
 * host, so a warm instance holds less than the running one did. Witnesses: the guest's own
 * /proc/meminfo through its agent (its page cache), and the VMM's resident guest RAM from the
 * host's /proc/<pid>/smaps. The same instance with the hook taken away keeps its cache across a
 * warm: the hook, not the pause, gives the memory back.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import type { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { guestMeminfo, guestSh, vmmSplit } from '../support/guest-memory.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('warm reclaim');

const MEM_MIB = 256;
/** Written to the data drive: it stays in the guest's page cache until something drops it. */
const FILL_MIB = 80;

/** The guest's page cache (Cached + Buffers), MiB, by its own /proc/meminfo. */
async function guestCacheMib(guest: GuestAgentClient): Promise<number> {
  const text = await guestMeminfo(guest);
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1]);
  const mib = (kib('Cached') + kib('Buffers')) / 1024;
  if (!Number.isFinite(mib)) throw new Error(`no page cache figures in the guest meminfo: ${text}`);
  return mib;
}

describe.runIf(gate.run)('warm reclaim with a real guest', () => {
  const vm = ref('reclaim');
  const spec = { ...workerSpec('10.240.99.21', '52:54:00:00:99:21'), dataDiskMib: 128 };
  let dataDir = '';
  let agent: AgentHandle | undefined;

  beforeAll(async () => {
    dataDir = await agentDataDir('wr');
    agent = await startAgent(testAgentConfig(dataDir, { MVM_WARM_RECLAIM: 'on' }), {
      mode: 'runtime',
      logger: quietLogger,
      network: null,
    });
  });

  afterAll(async () => {
    await agent?.runtime.act(vm, 'destroy').catch(() => undefined);
    await agent?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('gives the guest page cache back to the host before the pause, and only with the hook', async () => {
    const a = agent!;
    expect(a.deps.warmReclaim).toBeDefined();
    await a.runtime.put(vm, { spec });
    const started = await a.runtime.act(vm, 'start');
    expect(started.status).toBe('running');
    const guest = () => a.deps.guests.for(started.handle!);
    const pid = started.handle!.pid;

    await guestSh(
      guest(),
      `dd if=/dev/zero of=/data/fill bs=1M count=${FILL_MIB} 2>/dev/null && sync && echo ok`,
    );
    const cachedRunning = await guestCacheMib(guest());
    expect(cachedRunning).toBeGreaterThan(FILL_MIB - 10);
    const heldRunning = (await vmmSplit(pid, MEM_MIB)).guestRam;

    expect((await a.runtime.act(vm, 'warm')).status).toBe('warm');
    const heldWarm = (await vmmSplit(pid, MEM_MIB)).guestRam;
    // Most of the cache left the host with the hook (reporting is not exact to the page).
    expect(heldRunning - heldWarm).toBeGreaterThan(FILL_MIB / 2);

    const woken = await a.runtime.act(vm, 'wake');
    expect(woken.status).toBe('running');
    expect(woken.handle?.pid).toBe(pid);
    // The guest dropped its cache, not its data: the file is whole on the drive.
    expect(await guestCacheMib(guest())).toBeLessThan(cachedRunning - FILL_MIB / 2);
    // stat reads no data (the cache stays as the reclaim left it).
    const size = (await guestSh(guest(), 'stat -c %s /data/fill')).trim();
    expect(size).toBe(String(FILL_MIB << 20));

    // Without the hook, the same guest's cache (read back just above) stays across a warm.
    delete a.deps.warmReclaim;
    await guestSh(guest(), 'cat /data/fill > /dev/null && echo ok');
    const cachedAgain = await guestCacheMib(guest());
    expect(cachedAgain).toBeGreaterThan(FILL_MIB - 10);
    const heldAgain = (await vmmSplit(pid, MEM_MIB)).guestRam;
    expect((await a.runtime.act(vm, 'warm')).status).toBe('warm');
    expect((await vmmSplit(pid, MEM_MIB)).guestRam).toBeGreaterThan(heldAgain - 10);
    expect((await a.runtime.act(vm, 'wake')).status).toBe('running');
    expect(await guestCacheMib(guest())).toBeGreaterThan(FILL_MIB - 10);
  }, 900_000);
});
