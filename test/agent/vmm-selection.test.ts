/**
 * The agent's hypervisor choice (`--vmm` / MVM_VMM / the config file) and how each driver is
 * wired. Firecracker guest-level checks run only where a Firecracker guest really boots here
 * (firecrackerGuestProblem: the dev image serves its agent on vsock, and /dev/kvm boots stock
 * kernels); elsewhere (a PVM /dev/kvm, like this project's development host) they skip loudly.
 */
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { firecrackerGuestProblem } from '../../src/agent/load-vmm.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import {
  devImageGuestChannels,
  guestChannelsOf,
} from '../../src/drivers/dev-image/guest-channels.ts';
import { runIn } from '../cli/support/run-cli.ts';
import { firecrackerBin } from '../drivers/firecracker/support/firecracker-env.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';

const firecracker = firecrackerBin();
const guestProblem = await firecrackerGuestProblem();
if (!firecracker.ok) console.warn(`[skip] vmm selection: Firecracker cases: ${firecracker.why}`);
else if (guestProblem) {
  console.warn(`[skip] vmm selection: a Firecracker guest booting: ${guestProblem}`);
}

describe('vmm selection', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  async function agentWith(env: Record<string, string>): Promise<AgentHandle> {
    const dataDir = await agentDataDir('vmm');
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const agent = await startAgent(testAgentConfig(dataDir, env), {
      mode: 'runtime',
      logger: quietLogger,
      cgroups: null,
      network: null,
      timeouts: { guestReadyMs: 90_000 },
    });
    cleanup.push(() => agent.close());
    return agent;
  }

  it('mvm agent serve refuses an unknown --vmm before starting anything', async () => {
    const run = await runIn(['agent', 'serve', '--vmm', 'xen', '--data-dir', '/nonexistent']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--vmm 'xen' is not one of: qemu, firecracker");
  });

  it('mvm agent serve refuses a bad MVM_VMM before starting anything, naming its source', async () => {
    const run = await runIn(['agent', 'serve', '--data-dir', '/nonexistent'], {
      env: { MVM_VMM: 'xen' },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("vmm 'xen' (from env MVM_VMM): use qemu, firecracker");
  });

  it('MVM_VMM=qemu (and the default) wires the QEMU driver', async () => {
    for (const env of [{ MVM_VMM: 'qemu' }, {}] as Array<Record<string, string>>) {
      const agent = await agentWith(env);
      expect(agent.deps.vmm.name).toBe('qemu');
      expect((await agent.deps.vmm.capabilities()).guestChannel).toBe('virtio-serial');
    }
  });

  it('a missing Firecracker binary is a clear error naming what to set', async () => {
    await expect(
      agentWith({ MVM_VMM: 'firecracker', MVM_FIRECRACKER_BIN: '/nonexistent/firecracker' }),
    ).rejects.toThrow(
      /Firecracker binary '\/nonexistent\/firecracker' does not run .*set MVM_FIRECRACKER_BIN/,
    );
  });

  it('the dev image serves its guest agent on vsock too, so Firecracker guests can reach it', async () => {
    expect(await devImageGuestChannels()).toEqual(['virtio-serial', 'vsock']);
    // Read from what the init starts: an agent without a vsock listener offers no vsock.
    expect(guestChannelsOf('set -- /mvm/bin/mvm-agent serve --port mvm.agent ;;')).toEqual([
      'virtio-serial',
    ]);
    // What is left to decide whether a Firecracker guest boots is the host's KVM.
    const pvm = { hasDevKvm: true, isPvm: true, hasHardwareVirt: false };
    expect(await firecrackerGuestProblem(pvm)).toMatch(/KVM that boots stock kernels.*PVM/);
    const kvm = { hasDevKvm: true, isPvm: false, hasHardwareVirt: true };
    expect(await firecrackerGuestProblem(kvm)).toBeUndefined();
  });

  it.runIf(firecracker.ok)('MVM_VMM=firecracker wires the Firecracker driver (vsock)', async () => {
    const agent = await agentWith({
      MVM_VMM: 'firecracker',
      MVM_FIRECRACKER_BIN: firecracker.ok ? firecracker.value : '',
    });
    expect(agent.deps.vmm.name).toBe('firecracker');
    expect((await agent.deps.vmm.capabilities()).guestChannel).toBe('vsock');
  });

  it.runIf(firecracker.ok && guestProblem === undefined)(
    'MVM_VMM=firecracker: a cold start boots a guest whose agent answers over vsock',
    async () => {
      const agent = await agentWith({
        MVM_VMM: 'firecracker',
        MVM_FIRECRACKER_BIN: firecracker.ok ? firecracker.value : '',
      });
      const instance = ref('fc-1');
      await agent.runtime.put(instance, { spec: workerSpec('10.240.99.7', '52:54:00:00:99:07') });
      const started = await agent.runtime.act(instance, 'start');
      expect(started).toMatchObject({ status: 'running', failureReason: null });
      expect(started.handle?.driver).toBe('firecracker');
      expect((await agent.runtime.act(instance, 'destroy')).status).toBe('destroyed');
    },
    150_000,
  );
});
