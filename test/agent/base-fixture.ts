import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BaseInputs } from '../../src/core/base-key.ts';

/** A pool base's inputs (core/base-key.ts) for tests that make bases without a VMM. */
export const baseInputs = (over: Partial<BaseInputs> = {}): BaseInputs => ({
  scope: { tenantId: 'acme', poolId: 'web' },
  imageDigest: 'dev-1',
  kernel: 'vmlinuz',
  vmmVersion: 'qemu 8',
  vcpus: 1,
  memMib: 256,
  guestAgentVersion: 'init-1',
  layout: 'rootfs,data:16;eth0',
  ...over,
});

/** What a VMM's snapshot and the data copy would leave: real files, not their bytes. */
export async function fillBase(snapshotDir: string, dataPath: string) {
  await mkdir(snapshotDir);
  await writeFile(join(snapshotDir, 'vm.state'), 'state');
  await writeFile(dataPath, 'data');
  return { dir: snapshotDir, kind: 'full' as const, sizeBytes: 5 };
}
