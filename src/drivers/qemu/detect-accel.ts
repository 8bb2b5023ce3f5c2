import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import type { Accel } from './qemu-args.ts';

export interface AccelVerdict {
  accel: Accel;
  reason: string;
}

/** What the host offers; read from /dev, /sys and /proc, injectable for tests. */
export interface HostFacts {
  hasDevKvm: boolean;
  /** The kvm_pvm module: its /dev/kvm runs only PVM guest kernels, never stock ones. */
  isPvm: boolean;
  /** vmx or svm in /proc/cpuinfo flags. */
  hasHardwareVirt: boolean;
}

export interface DetectAccelOptions {
  /** Where the verdict of a probe boot is remembered (per host kernel). */
  cacheDir: string;
  /** The configured accelerator (MVM_QEMU_ACCEL): kvm or tcg skip detection; default auto. */
  forced?: Accel | 'auto';
  logger?: Logger;
  facts?: HostFacts;
  /**
   * Boots a guest under KVM and resolves true if its agent answers before a deadline.
   * Without one, a host that merely looks KVM-capable is not trusted: TCG.
   */
  probe?: () => Promise<boolean>;
}

/**
 * KVM only when it can really boot our guest; TCG otherwise. Cheap checks come first so a
 * host like ours (PVM, no vmx/svm) answers 'tcg' at once instead of hanging in a probe.
 */
export async function detectAccel(options: DetectAccelOptions): Promise<AccelVerdict> {
  const log = options.logger ?? silentLogger;
  const forced = options.forced ?? 'auto';
  if (forced !== 'auto')
    return { accel: forced, reason: 'forced by configuration (MVM_QEMU_ACCEL)' };
  const facts = options.facts ?? (await readHostFacts());
  const quick = quickVerdict(facts);
  if (quick) return quick;
  const cacheFile = join(options.cacheDir, `accel-${release()}.json`);
  const cached = await readVerdict(cacheFile);
  if (cached) return cached;
  const verdict = await probeVerdict(options.probe, log);
  await writeVerdict(cacheFile, verdict);
  return verdict;
}

export function quickVerdict(facts: HostFacts): AccelVerdict | undefined {
  if (!facts.hasDevKvm) return { accel: 'tcg', reason: '/dev/kvm is absent' };
  if (facts.isPvm) {
    return { accel: 'tcg', reason: '/dev/kvm is PVM (kvm_pvm), which cannot boot stock kernels' };
  }
  if (!facts.hasHardwareVirt) return { accel: 'tcg', reason: 'the CPU has no vmx/svm flag' };
  return undefined;
}

export async function readHostFacts(): Promise<HostFacts> {
  const exists = (path: string): Promise<boolean> =>
    access(path).then(
      () => true,
      () => false,
    );
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return {
    hasDevKvm: await exists('/dev/kvm'),
    isPvm: await exists('/sys/module/kvm_pvm'),
    hasHardwareVirt: /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo),
  };
}

async function probeVerdict(
  probe: (() => Promise<boolean>) | undefined,
  log: Logger,
): Promise<AccelVerdict> {
  if (!probe) return { accel: 'tcg', reason: 'KVM looks usable but no probe boot was run' };
  const booted = await probe().catch((error: unknown) => {
    log.warn({ error: String(error) }, 'KVM probe boot failed');
    return false;
  });
  return booted
    ? { accel: 'kvm', reason: 'a probe guest booted under KVM' }
    : { accel: 'tcg', reason: 'a probe guest did not reach its agent under KVM' };
}

async function readVerdict(file: string): Promise<AccelVerdict | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const parsed = JSON.parse(text) as Partial<AccelVerdict>;
  if (parsed.accel !== 'kvm' && parsed.accel !== 'tcg') return undefined;
  return { accel: parsed.accel, reason: `${parsed.reason ?? 'probe'} (cached)` };
}

async function writeVerdict(file: string, verdict: AccelVerdict): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(verdict));
  await rename(`${file}.tmp`, file);
}
