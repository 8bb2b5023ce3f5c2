import { errorMessage, ValidationError } from '../core/errors.ts';
import { systemClock } from '../drivers/clock/system-clock.ts';
import { devImageGuestChannels } from '../drivers/dev-image/guest-channels.ts';
import type { Logger } from '../ports/logger.ts';
import type { HostFacts } from '../drivers/qemu/detect-accel.ts';
import type { ProcessRunner } from '../ports/process-runner.ts';
import type { Vmm } from '../ports/vmm.ts';
import type { JailerConfig } from '../drivers/firecracker/vm-layout.ts';
import { agentLayout } from './runtime/layout.ts';
import { devImageOptions } from './agent-config.ts';
import type { AgentConfig } from './agent-config.ts';

export type VmmConfig = Pick<
  AgentConfig,
  'vmm' | 'qemu' | 'firecracker' | 'cacheDir' | 'devImage' | 'confinement' | 'dataDir'
>;

interface LoadVmmDeps {
  /** Runs the VMMs (in the agent's network namespace when it has one). */
  runner: ProcessRunner;
  /** Host commands in the agent's own namespaces (a jail's bind mounts); default `runner`. */
  hostRunner?: ProcessRunner;
  logger: Logger;
}

/**
 * The configured driver, imported lazily so a node runs without the other one's code paths.
 * QEMU picks KVM only if it boots our guest (else TCG); Firecracker has no fallback, so the
 * agent says up front when its guests cannot boot here (their starts then fail at the
 * readiness deadline with a reason, instead of hanging). Either is confined unless turned
 * off; whatever this host cannot confine is said loudly, at error level, never silently.
 */
export async function loadVmm(config: VmmConfig, deps: LoadVmmDeps): Promise<Vmm> {
  if (config.vmm === 'qemu') {
    const { createQemuVmm } = await import('../drivers/qemu/create-qemu-vmm.ts');
    const { cacheDir, ...image } = devImageOptions(config);
    const created = await createQemuVmm({
      runner: deps.runner,
      logger: deps.logger,
      clock: systemClock,
      cacheDir,
      accel: config.qemu.accel,
      qemuBinary: config.qemu.binary,
      balloon: config.qemu.balloon,
      ...(config.qemu.tcgCacheMib === undefined ? {} : { tcgTbSizeMib: config.qemu.tcgCacheMib }),
      image,
      confine: config.confinement.enabled,
    });
    reportConfinement(deps.logger, 'qemu', config.confinement.enabled, created.confinement.missing);
    return created.vmm;
  }
  return loadFirecracker(config, deps);
}

/** What runs unconfined, and why, at error level: an operator must see it. */
function reportConfinement(log: Logger, vmm: string, enabled: boolean, missing: string[]): void {
  if (!enabled) {
    log.error({ vmm }, 'VMM CONFINEMENT IS OFF (MVM_CONFINE=off): VMMs run as root, unconfined');
  } else if (missing.length > 0) {
    log.error({ vmm, missing }, 'VMMs run PARTLY UNCONFINED on this host');
  } else {
    log.info({ vmm }, 'VMMs run confined (unprivileged per-instance user, chroot, seccomp)');
  }
}

/**
 * Why a Firecracker guest cannot reach its agent on this host, or undefined if it can: the
 * dev image must serve the agent on vsock (read from the image's init), and /dev/kvm must
 * boot stock kernels. The KVM verdict is the one QEMU's accelerator choice reads: a /dev/kvm
 * that cannot boot a stock kernel under QEMU cannot under Firecracker either, and
 * Firecracker has no TCG to fall back to.
 */
export async function firecrackerGuestProblem(facts?: HostFacts): Promise<string | undefined> {
  const { quickVerdict, readHostFacts } = await import('../drivers/qemu/detect-accel.ts');
  if (!(await devImageGuestChannels()).includes('vsock')) {
    return 'the dev image serves its guest agent on virtio-serial only; Firecracker offers vsock';
  }
  const verdict = quickVerdict(facts ?? (await readHostFacts()));
  if (verdict) return `Firecracker needs a KVM that boots stock kernels: ${verdict.reason}`;
  return undefined;
}

async function loadFirecracker(config: VmmConfig, deps: LoadVmmDeps): Promise<Vmm> {
  const bin = config.firecracker.binary;
  const [{ FirecrackerVmm }, { versionFromBinary }] = await Promise.all([
    import('../drivers/firecracker/firecracker-vmm.ts'),
    import('../drivers/firecracker/firecracker-version.ts'),
  ]);
  const version = await versionFromBinary(deps.runner, bin).catch((error: unknown) => {
    throw new ValidationError(
      `the Firecracker binary '${bin}' does not run (${errorMessage(error)}); set MVM_FIRECRACKER_BIN or use --vmm qemu`,
    );
  });
  const problem = await firecrackerGuestProblem();
  if (problem) {
    deps.logger.warn(
      { reason: problem },
      'Firecracker guests cannot reach their agent on this host; cold starts will fail at the guest readiness deadline',
    );
  }
  deps.logger.info({ bin, version: version.raw }, 'vmm driver: firecracker');
  const jailer = config.confinement.enabled ? await jailerFor(config, deps) : undefined;
  const missing = config.confinement.enabled && !jailer ? [jailerProblem(config)] : [];
  reportConfinement(deps.logger, 'firecracker', config.confinement.enabled, missing);
  return new FirecrackerVmm({
    firecrackerBin: bin,
    runner: deps.runner,
    ...(deps.hostRunner ? { hostRunner: deps.hostRunner } : {}),
    clock: systemClock,
    logger: deps.logger,
    ...(jailer ? { jailer } : {}),
  });
}

/**
 * The jailer, chrooting each VM under `<dataDir>/jail` (the drives' filesystem, so writable
 * drives are hard-linked in); every VM gets its own uid/gid from the spec. The cgroup is the
 * agent's own placement (the jailer 1.0's cgroup flags know one hierarchy version at a time,
 * while a hybrid host splits controllers between two).
 */
async function jailerFor(config: VmmConfig, deps: LoadVmmDeps): Promise<JailerConfig | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const runs = await deps.runner
    .run(config.firecracker.jailer, ['--version'], { check: false, timeoutMs: 5_000 })
    .then((r) => r.exitCode === 0)
    .catch(() => false);
  if (!runs) return undefined;
  const base = config.confinement.uidBase;
  return {
    jailerBin: config.firecracker.jailer,
    uid: base,
    gid: base,
    chrootBaseDir: agentLayout(config.dataDir).jailsDir,
  };
}

function jailerProblem(config: VmmConfig): string {
  return process.getuid?.() !== 0
    ? 'the agent is not root, so the jailer cannot run'
    : `the jailer '${config.firecracker.jailer}' does not run; set MVM_JAILER_BIN`;
}
