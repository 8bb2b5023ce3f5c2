/**
 * Shared setup for tests that boot real guests with QEMU: is QEMU here, the dev image,
 * a short-pathed work directory (unix socket paths are limited to 107 bytes), a VmSpec.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDevImage, imageDrives } from '../../src/drivers/dev-image/build-dev-image.ts';
import type { DevImage } from '../../src/drivers/dev-image/build-dev-image.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import type { VmSpec } from '../../src/ports/vmm.ts';
import { gateOf, type SuiteGate } from './gate.ts';

export const testRunner = new NodeProcessRunner();

export const QEMU_BINARY = process.env['MVM_QEMU_BINARY'] ?? 'qemu-system-x86_64';

export async function qemuAvailable(): Promise<boolean> {
  const result = await testRunner
    .run(QEMU_BINARY, ['--version'], { check: false })
    .catch(() => undefined);
  return result?.exitCode === 0;
}

/**
 * Real-guest suites skip loudly when QEMU is missing on a dev machine; in CI a missing QEMU
 * is a broken runner, so it must fail instead (qemuSuiteGate in qemu-gate.ts).
 */
export async function realGuestGate(suite: string): Promise<SuiteGate> {
  const missing = (await qemuAvailable()) ? [] : [`${QEMU_BINARY} (install qemu-system-x86)`];
  return gateOf(suite, missing);
}

export function devImage(): Promise<DevImage> {
  return buildDevImage({ runner: testRunner });
}

export function shortWorkDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `mvm-${label}-`));
}

/** A one-vCPU guest of the dev image; `extra.drives` come after the image's own drives. */
export function guestSpec(image: DevImage, workDir: string, extra: Partial<VmSpec> = {}): VmSpec {
  const { drives = [], ...rest } = extra;
  return {
    key: 'mvm-test-guest',
    workDir,
    vcpus: 1,
    memMib: 256,
    kernelPath: image.vmlinux,
    initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=guest-1 mvm.ip=10.240.99.3/24 mvm.gw=10.240.99.1`,
    drives: [...imageDrives(image), ...drives],
    nets: [],
    ...rest,
  };
}
