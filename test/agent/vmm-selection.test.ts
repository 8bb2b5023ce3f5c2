/**
 * The agent's hypervisor choice (`vmmDriver` / `--vmm` / MVM_VMM) and what a Firecracker
 * agent does on a host where Firecracker's guest cannot boot (PVM /dev/kvm here): a start
 * fails at the guest readiness deadline with a reason, it does not hang, and no VMM is left.
 */
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAgent } from '../../src/agent/main.ts';
import { vmmChoiceOf } from '../../src/agent/load-vmm.ts';
import { isAlive } from '../../src/drivers/process/process-control.ts';
import { runIn } from '../cli/support/run-cli.ts';
import { firecrackerBin } from '../drivers/firecracker/support/firecracker-env.ts';
import { agentDataDir, quietLogger, ref, workerSpec } from './agent-harness.ts';

const firecracker = firecrackerBin();
if (!firecracker.ok)
  console.warn(`\n!!! vmm selection: Firecracker cases skipped: ${firecracker.why}\n`);

type Agent = Awaited<ReturnType<typeof createAgent>>;

describe('vmm selection', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    vi.unstubAllEnvs();
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  async function agentWith(options: Partial<Parameters<typeof createAgent>[0]>): Promise<Agent> {
    const dataDir = await agentDataDir('vmm');
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const agent = await createAgent({
      dataDir,
      logger: quietLogger,
      cgroups: null,
      network: null,
      ...options,
    });
    cleanup.push(() => agent.close());
    return agent;
  }

  it('the option wins over MVM_VMM; MVM_VMM over the qemu default; bad values are refused', () => {
    expect(vmmChoiceOf({}, {})).toBe('qemu');
    expect(vmmChoiceOf({}, { MVM_VMM: 'firecracker' })).toBe('firecracker');
    expect(vmmChoiceOf({ vmmDriver: 'qemu' }, { MVM_VMM: 'firecracker' })).toBe('qemu');
    expect(() => vmmChoiceOf({}, { MVM_VMM: 'xen' })).toThrow(
      "MVM_VMM='xen' is invalid: use qemu or firecracker",
    );
  });

  it('mvm agent serve refuses an unknown --vmm before starting anything', async () => {
    const run = await runIn(['agent', 'serve', '--vmm', 'xen', '--data-dir', '/nonexistent']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--vmm 'xen' is not one of: qemu, firecracker");
  });

  it('MVM_VMM=qemu (and the default) wires the QEMU driver', async () => {
    vi.stubEnv('MVM_VMM', 'qemu');
    const agent = await agentWith({});
    expect(agent.deps.vmm.name).toBe('qemu');
    expect((await agent.deps.vmm.capabilities()).guestChannel).toBe('virtio-serial');
  });

  it('a missing Firecracker binary is a clear error naming what to set', async () => {
    vi.stubEnv('MVM_FIRECRACKER_BIN', '/nonexistent/firecracker');
    await expect(agentWith({ vmmDriver: 'firecracker' })).rejects.toThrow(
      /Firecracker binary '\/nonexistent\/firecracker' does not run .*set MVM_FIRECRACKER_BIN/,
    );
  });

  it.runIf(firecracker.ok)(
    'MVM_VMM=firecracker: a start whose guest never answers fails with a reason, not a hang',
    async () => {
      vi.stubEnv('MVM_VMM', 'firecracker');
      vi.stubEnv('MVM_FIRECRACKER_BIN', firecracker.ok ? firecracker.value : '');
      const agent = await agentWith({ timeouts: { guestReadyMs: 3_000 } });
      expect(agent.deps.vmm.name).toBe('firecracker');
      expect((await agent.deps.vmm.capabilities()).guestChannel).toBe('vsock');

      const starts = vi.spyOn(agent.deps.vmm, 'start');
      const instance = ref('fc-1');
      await agent.runtime.put(instance, { spec: workerSpec('10.240.99.7', '52:54:00:00:99:07') });
      const started = Date.now();
      await expect(agent.runtime.act(instance, 'start')).rejects.toThrow(/guest agent/);
      expect(Date.now() - started).toBeLessThan(20_000);

      const record = await agent.runtime.get(instance);
      expect(record.status).toBe('failed');
      expect(record.failureReason).toMatch(/^cold boot failed: .*guest agent/);
      expect(record.handle).toBeNull();
      // The VMM really started, and was stopped when the deadline passed.
      const handle = await starts.mock.results[0]?.value;
      expect(handle?.driver).toBe('firecracker');
      expect(await isAlive(handle?.pid ?? 0)).toBe(false);
    },
  );
});
