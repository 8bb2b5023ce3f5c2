import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../ports/clock.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { buildDevImage, rootfsDrive } from '../dev-image/build-dev-image.ts';
import { defaultCacheDir } from '../dev-image/cache-dir.ts';
import { GuestClient } from '../guest-channel/guest-client.ts';
import { unixSocketTransport } from '../guest-channel/guest-transport.ts';
import type { DriverLogger } from '../process/logger.ts';
import { detectAccel } from './detect-accel.ts';
import type { AccelVerdict } from './detect-accel.ts';
import { QemuVmm } from './qemu-vmm.ts';
import type { QemuVmmOptions } from './qemu-vmm.ts';

export interface CreateQemuVmmOptions extends Omit<QemuVmmOptions, 'accel'> {
  cacheDir?: string;
  /** How long the KVM probe guest may take to answer (only on hosts that look KVM-capable). */
  probeTimeoutMs?: number;
}

/** Composition helper: picks the accelerator (KVM only if it boots our guest), then the driver. */
export async function createQemuVmm(
  options: CreateQemuVmmOptions,
): Promise<{ vmm: QemuVmm; verdict: AccelVerdict }> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const verdict = await detectAccel({
    cacheDir,
    ...(options.logger ? { logger: options.logger } : {}),
    probe: () => probeKvmBoot(cacheDir, options, options.probeTimeoutMs ?? 30_000),
  });
  options.logger?.info({ accel: verdict.accel, reason: verdict.reason }, 'qemu accelerator chosen');
  return { vmm: new QemuVmm({ ...options, accel: verdict.accel }), verdict };
}

/** Boots the dev image under KVM and waits for its agent; any failure means "use TCG". */
async function probeKvmBoot(
  cacheDir: string,
  options: { runner: ProcessRunner; logger?: DriverLogger; clock?: Clock },
  timeoutMs: number,
): Promise<boolean> {
  const image = await buildDevImage({ cacheDir, runner: options.runner });
  const workDir = await mkdtemp(join(cacheDir, 'kvm-probe-'));
  const vmm = new QemuVmm({
    runner: options.runner,
    accel: 'kvm',
    clock: options.clock,
    timeouts: { startMs: timeoutMs },
  });
  const spec = {
    key: 'mvm-kvm-probe',
    workDir,
    vcpus: 1,
    memMib: 128,
    kernelPath: image.vmlinux,
    initrdPath: image.initrd,
    cmdline: image.cmdlineBase,
    drives: [rootfsDrive(image)],
    nets: [],
  };
  const vm = await vmm.start(spec);
  const client = new GuestClient(unixSocketTransport(vm.guestSocket), { clock: options.clock });
  try {
    await client.waitReady(timeoutMs);
    return true;
  } finally {
    client.close();
    await vmm.stop(vm);
    await rm(workDir, { recursive: true, force: true });
  }
}
