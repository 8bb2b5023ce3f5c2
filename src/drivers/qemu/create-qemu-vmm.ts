import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildDevImage, imageDrives } from '../dev-image/build-dev-image.ts';
import type { BuildDevImageOptions } from '../dev-image/build-dev-image.ts';
import { DEFAULT_CACHE_DIR } from '../dev-image/cache-dir.ts';
import { GuestClient } from '../guest-channel/guest-client.ts';
import { unixSocketTransport } from '../guest-channel/guest-transport.ts';
import { detectAccel } from './detect-accel.ts';
import type { AccelVerdict } from './detect-accel.ts';
import type { Accel } from './qemu-args.ts';
import { UNCONFINED, probeConfinement } from './qemu-confine.ts';
import type { ConfinementProbe } from './qemu-confine.ts';
import { QEMU_BINARY, QemuVmm } from './qemu-vmm.ts';
import type { QemuVmmOptions } from './qemu-vmm.ts';

export interface CreateQemuVmmOptions extends Omit<QemuVmmOptions, 'accel' | 'confinement'> {
  /** Confine every VM as far as this host and QEMU allow (see qemu-confine.ts); default off. */
  confine?: boolean;
  cacheDir?: string;
  /** kvm or tcg: no detection; default auto (KVM only if it boots our guest). */
  accel?: Accel | 'auto';
  /** How the probe guest's dev image is built (the agent's configured inputs). */
  image?: Omit<BuildDevImageOptions, 'runner' | 'cacheDir'>;
  /** How long the KVM probe guest may take to answer (only on hosts that look KVM-capable). */
  probeTimeoutMs?: number;
}

/**
 * Composition helper: picks the accelerator (KVM only if it boots our guest) and what
 * confinement this host allows, then the driver. `missing` lists what could not be confined.
 */
export async function createQemuVmm(
  options: CreateQemuVmmOptions,
): Promise<{ vmm: QemuVmm; verdict: AccelVerdict; confinement: ConfinementProbe }> {
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const verdict = await detectAccel({
    cacheDir,
    ...(options.accel ? { forced: options.accel } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    probe: () => probeKvmBoot(cacheDir, options, options.probeTimeoutMs ?? 30_000),
  });
  options.logger?.info({ accel: verdict.accel, reason: verdict.reason }, 'qemu accelerator chosen');
  const confinement = options.confine
    ? await probeConfinement(options.runner, options.qemuBinary ?? QEMU_BINARY, isRoot(), {
        cacheDir,
        // mvm-tapfd is compiled with the compiler the guest agent is.
        ...(options.image?.guestCc ? { cc: options.image.guestCc } : {}),
      })
    : { confinement: UNCONFINED, missing: ['confinement is turned off'] };
  const { cacheDir: _c, image: _i, probeTimeoutMs: _p, confine: _f, ...driver } = options;
  const vmm = new QemuVmm({
    ...driver,
    accel: verdict.accel,
    confinement: confinement.confinement,
  });
  return { vmm, verdict, confinement };
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Boots the dev image under KVM and waits for its agent; any failure means "use TCG". */
async function probeKvmBoot(
  cacheDir: string,
  options: CreateQemuVmmOptions,
  timeoutMs: number,
): Promise<boolean> {
  const image = await buildDevImage({ ...options.image, cacheDir, runner: options.runner });
  const workDir = await mkdtemp(join(cacheDir, 'kvm-probe-'));
  const vmm = new QemuVmm({
    runner: options.runner,
    ...(options.qemuBinary ? { qemuBinary: options.qemuBinary } : {}),
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
    drives: imageDrives(image),
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
