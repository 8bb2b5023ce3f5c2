/**
 * The Vmm contract against QEMU with a real dev-image guest under TCG (guest checks on).
 * One cold boot for the whole file: TCG boots take seconds on a 2-core host.
 */
import { join } from 'node:path';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import {
  QEMU_BINARY,
  devImage,
  guestSpec,
  qemuAvailable,
  testRunner,
} from '../support/qemu-guest.ts';
import { vmmContract } from './vmm-contract.ts';

const present = await qemuAvailable();

vmmContract('qemu (tcg)', () => new QemuVmm({ runner: testRunner, accel: 'tcg' }), {
  ...(present ? {} : { unavailable: `${QEMU_BINARY} not found (install qemu-system-x86)` }),
  requiredInCi: true,
  // TCG emulates the CPU: the dev image boots on any host, KVM or not.
  guestBoots: true,
  guestReadyMs: 90_000,
  async spec(workDir) {
    const image = await devImage();
    const data = join(workDir, '..', 'data.ext4');
    await testRunner.run('mkfs.ext4', ['-q', '-F', '-L', 'data', data, '16M']);
    return guestSpec(image, workDir, {
      key: 'mvm-contract-qemu',
      drives: [{ id: 'data', path: data, readOnly: false }],
    });
  },
});
