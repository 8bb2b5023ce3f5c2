/**
 * A wake lays its secrets drive out while the VMM restores (docs/wake-overhead.md), with a real
 * guest (QEMU, TCG) and real mkfs: the guest is resumed only once the drive is written, and
 * reads the value set while it slept; a drive that fails to be written fails the wake, which
 * leaves the instance asleep on its snapshot with no VMM and no drive, and a later wake works.
 * The drives are the real Ext4Drives behind a wrapper that holds back or fails `written`.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { guestOf } from '../../src/agent/runtime/guest-access.ts';
import { secretsDirOf } from '../../src/agent/runtime/layout.ts';
import type { Drives, PendingDrive } from '../../src/ports/drives.ts';
import { execText } from '../support/exec-output.ts';
import {
  agentDataDir,
  FlakyVmm,
  quietLogger,
  ref,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('secrets drive laid out during a wake');

/** What happened, in order: the drive written, the VMM resumed. */
const events: string[] = [];

/** The real drives; `layoutSecrets` holds `written` back a while, or fails it. */
function holdingDrives(inner: Drives, mode: { fail: boolean }): Drives {
  return {
    ensureData: (dir, mib) => inner.ensureData(dir, mib),
    buildSecrets: (dir, values) => inner.buildSecrets(dir, values),
    buildConfig: (dir, version, files) => inner.buildConfig(dir, version, files),
    removeAll: (dir) => inner.removeAll(dir),
    layoutSecrets: async (dir, values): Promise<PendingDrive> => {
      const laid = await inner.layoutSecrets!(dir, values);
      const written = laid.written
        .then(() => new Promise((resolve) => setTimeout(resolve, 800)))
        .then(() => {
          if (mode.fail) throw new Error('injected: the secrets drive could not be written');
          events.push('written');
        });
      written.catch(() => undefined);
      return { ...laid, written };
    },
  };
}

describe.runIf(gate.run)('secrets drive laid out during a wake', () => {
  const vm = ref('ws1');
  const mode = { fail: false };
  let dataDir = '';
  let agent: AgentHandle | undefined;

  afterAll(async () => {
    if (agent) {
      await agent.runtime.act(vm, 'destroy').catch(() => undefined);
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const guestCat = async (a: AgentHandle, path: string): Promise<string> => {
    const run = await execText(guestOf(a.deps, await a.runtime.get(vm)), { argv: ['cat', path] });
    expect(run.exit).toMatchObject({ code: 0 });
    return run.stdout;
  };

  it('resumes the guest only once the drive is written, with the value set while asleep', async () => {
    dataDir = await agentDataDir('wsip');
    const vmm = new FlakyVmm(tcgVmm());
    const resume = vmm.resume;
    vmm.resume = async (handle) => {
      events.push('resume');
      return resume(handle);
    };
    const a = (agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      vmm,
      logger: quietLogger,
      network: null,
    }));
    a.deps.drives = holdingDrives(a.deps.drives, mode);
    const spec = workerSpec('10.240.98.9', '52:54:00:00:98:09');
    await a.runtime.put(vm, { spec, secrets: { TOKEN: 'before-sleep' } });
    const booted = await a.runtime.act(vm, 'start');
    const bootId = (await a.deps.guests.for(booted.handle!).status()).boot_id;
    expect(await guestCat(a, '/run/secrets/TOKEN')).toBe('before-sleep');
    await a.runtime.act(vm, 'sleep');
    await a.runtime.put(vm, { spec, secrets: { TOKEN: 'set-while-asleep' } });

    events.length = 0;
    const woken = await a.runtime.act(vm, 'wake');
    expect(woken.status).toBe('running');
    expect(events).toEqual(['written', 'resume']);
    expect(await guestCat(a, '/run/secrets/TOKEN')).toBe('set-while-asleep');
    expect((await a.deps.guests.for(woken.handle!).status()).boot_id).toBe(bootId);
  }, 300_000);

  it('a drive that cannot be written fails the wake: still asleep, no VMM, no drive; then wakes', async () => {
    const a = agent!;
    await a.runtime.act(vm, 'sleep');
    const asleep = await a.runtime.get(vm);
    mode.fail = true;
    events.length = 0;
    await expect(a.runtime.act(vm, 'wake')).rejects.toThrow(/could not be written/);
    expect(events).not.toContain('resume');
    const after = await a.runtime.get(vm);
    expect(after).toMatchObject({ status: 'sleeping', handle: null, intent: null });
    expect(after.snapshot).toEqual(asleep.snapshot);
    expect(existsSync(secretsDirOf(a.deps.layout, after.key))).toBe(false);

    mode.fail = false;
    const woken = await a.runtime.act(vm, 'wake');
    expect(woken.status).toBe('running');
    expect(await guestCat(a, '/run/secrets/TOKEN')).toBe('set-while-asleep');
  }, 300_000);
});
