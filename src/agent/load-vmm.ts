import { ValidationError } from '../core/errors.ts';
import { systemClock } from '../drivers/clock/system-clock.ts';
import type { DriverLogger } from '../drivers/process/logger.ts';
import type { ProcessRunner } from '../ports/process-runner.ts';
import type { Vmm } from '../ports/vmm.ts';

export const vmmChoices = ['qemu', 'firecracker'] as const;
export type VmmChoice = (typeof vmmChoices)[number];

export interface VmmSelection {
  /** Which hypervisor driver runs this node's VMs; default env MVM_VMM, else qemu. */
  vmmDriver?: VmmChoice;
}

/** The flag wins over MVM_VMM; a bad MVM_VMM is refused rather than silently ignored. */
export function vmmChoiceOf(selection: VmmSelection, env: NodeJS.ProcessEnv): VmmChoice {
  if (selection.vmmDriver) return selection.vmmDriver;
  const raw = env['MVM_VMM'];
  if (raw === undefined || raw === '') return 'qemu';
  const known = vmmChoices.find((choice) => choice === raw);
  if (!known) {
    throw new ValidationError(`MVM_VMM='${raw}' is invalid: use ${vmmChoices.join(' or ')}`);
  }
  return known;
}

interface LoadVmmDeps {
  runner: ProcessRunner;
  logger: DriverLogger;
  env?: NodeJS.ProcessEnv;
}

/**
 * The chosen driver, imported lazily so a node runs without the other one's code paths.
 * QEMU picks KVM only if it boots our guest (else TCG); Firecracker has no fallback, so the
 * agent says up front when its guests cannot boot here (their starts then fail at the
 * readiness deadline with a reason, instead of hanging).
 */
export async function loadVmm(selection: VmmSelection, deps: LoadVmmDeps): Promise<Vmm> {
  const env = deps.env ?? process.env;
  const choice = vmmChoiceOf(selection, env);
  if (choice === 'qemu') {
    const { createQemuVmm } = await import('../drivers/qemu/create-qemu-vmm.ts');
    const options = { runner: deps.runner, logger: deps.logger, clock: systemClock };
    return (await createQemuVmm(options)).vmm;
  }
  return loadFirecracker(deps, env);
}

/** The channels the dev image's guest agent listens on (src/guest/agent.sh). */
const DEV_IMAGE_GUEST_CHANNELS: readonly string[] = ['virtio-serial'];

/**
 * Why a Firecracker guest cannot reach its agent on this host, or undefined if it can. Reads
 * the host facts QEMU's accelerator choice reads: a /dev/kvm that cannot boot a stock kernel
 * under QEMU cannot under Firecracker either, and Firecracker has no TCG to fall back to.
 */
export async function firecrackerGuestProblem(): Promise<string | undefined> {
  const { quickVerdict, readHostFacts } = await import('../drivers/qemu/detect-accel.ts');
  const verdict = quickVerdict(await readHostFacts());
  if (verdict) return `Firecracker needs a KVM that boots stock kernels: ${verdict.reason}`;
  if (!DEV_IMAGE_GUEST_CHANNELS.includes('vsock')) {
    return 'the dev image guest agent speaks virtio-serial only; Firecracker offers vsock';
  }
  return undefined;
}

async function loadFirecracker(deps: LoadVmmDeps, env: NodeJS.ProcessEnv): Promise<Vmm> {
  const [{ FirecrackerVmm }, { versionFromBinary }] = await Promise.all([
    import('../drivers/firecracker/firecracker-vmm.ts'),
    import('../drivers/firecracker/firecracker-version.ts'),
  ]);
  const fromEnv = env['MVM_FIRECRACKER_BIN'];
  const bin = fromEnv === undefined || fromEnv === '' ? 'firecracker' : fromEnv;
  const version = await versionFromBinary(deps.runner, bin).catch((error: unknown) => {
    throw new ValidationError(
      `the Firecracker binary '${bin}' does not run (${error instanceof Error ? error.message : String(error)}); set MVM_FIRECRACKER_BIN or use --vmm qemu`,
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
  return new FirecrackerVmm({
    firecrackerBin: bin,
    runner: deps.runner,
    clock: systemClock,
    logger: deps.logger,
  });
}
