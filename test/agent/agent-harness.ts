/**
 * Shared setup for agent tests with real QEMU guests (TCG): a short data dir, an agent built
 * in-process on the real drivers, a spec, and host-side reads of drive images (no mounts).
 */
import { NetnsProcessRunner } from '../../src/drivers/process/netns-process-runner.ts';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../src/agent/agent-config.ts';
import type { AgentConfig, AgentFlags } from '../../src/agent/agent-config.ts';
import type { LocalSpecInput } from '../../src/contract/agent-api.ts';
import { secretsDirOf, type AgentLayout } from '../../src/agent/runtime/layout.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import type { Vmm } from '../../src/ports/vmm.ts';
import { testRunner } from '../support/qemu-guest.ts';

export const ref = (instanceId: string) => ({ tenantId: 'acme', poolId: 'web', instanceId });

export function workerSpec(ip: string, mac: string): LocalSpecInput {
  return {
    role: 'worker',
    vcpus: 1,
    memMib: 256,
    dataDiskMib: 16,
    ip,
    gateway: '10.240.99.1',
    mac,
  };
}

/** QEMU under TCG; with `netns`, started inside that namespace (an agent with `--netns`). */
export function tcgVmm(netns?: string): QemuVmm {
  const runner = netns === undefined ? testRunner : new NetnsProcessRunner(testRunner, netns);
  return new QemuVmm({ runner, accel: 'tcg' });
}

/** A Vmm that fails snapshots on demand: the injected failure for "a failed sleep". */
export class FlakyVmm implements Vmm {
  readonly name: Vmm['name'];
  failSnapshots = false;
  constructor(private readonly inner: Vmm) {
    this.name = inner.name;
  }
  capabilities: Vmm['capabilities'] = () => this.inner.capabilities();
  start: Vmm['start'] = (spec) => this.inner.start(spec);
  pause: Vmm['pause'] = (vm) => this.inner.pause(vm);
  resume: Vmm['resume'] = (vm) => this.inner.resume(vm);
  snapshot: Vmm['snapshot'] = (vm, dir, kind) =>
    this.failSnapshots
      ? Promise.reject(new Error('injected: disk full while writing the snapshot'))
      : this.inner.snapshot(vm, dir, kind);
  restore: Vmm['restore'] = (spec, snap) => this.inner.restore(spec, snap);
  state: Vmm['state'] = (vm) => this.inner.state(vm);
  stop: Vmm['stop'] = (vm) => this.inner.stop(vm);
  adopt: Vmm['adopt'] = (vm) => this.inner.adopt(vm);
}

/**
 * The agent's config as a test sets it: its data dir, and only the env and flags it names
 * (never the host's /etc/mvm/config.json, the runner's environment or an admin.token file).
 */
export function testAgentConfig(
  dataDir: string,
  env: Record<string, string> = {},
  flags: AgentFlags = {},
): Readonly<AgentConfig> {
  // In-process agents end with their test: no watchdog outliving them unless a test asks.
  const quiet = { MVM_FENCE_WATCHDOG: 'off', ...env };
  return loadAgentConfig({ flags: { dataDir, ...flags }, env: quiet, readText: () => undefined });
}

export function agentDataDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `mvm-ag-${label}-`));
}

/** A file's contents inside an ext4 image, read with debugfs (no mount). */
export async function debugfsCat(image: string, name: string): Promise<string> {
  const out = await testRunner.run('debugfs', ['-R', `cat /${name}`, image]);
  return out.stdout;
}

export const drivePath = (dataDir: string, key: string, file: string): string =>
  join(dataDir, 'vms', key, 'drives', file);

/** The secrets drive of an instance: outside the data dir, under the agent's secrets dir. */
export const secretsDrivePath = (layout: AgentLayout, key: string): string =>
  join(secretsDirOf(layout, key), 'drives', 'secrets.ext4');

export const quietLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};
