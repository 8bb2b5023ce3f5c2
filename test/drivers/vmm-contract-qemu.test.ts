/**
 * The Vmm contract against QEMU with a real dev-image guest under TCG (guest checks on),
 * confined as the agent runs it: -sandbox, -runas a per-instance uid, -chroot, drives as
 * descriptors, the bounding set shrunk by setpriv. Every lifecycle step (pause, sleep to a
 * file, wake, the guest channel) must work that way. qemu-vmm.test.ts covers it unconfined.
 * One cold boot for the whole file: TCG boots take seconds on a 2-core host.
 */
import { join } from 'node:path';
import { probeConfinement } from '../../src/drivers/qemu/qemu-confine.ts';
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
const probe = present
  ? await probeConfinement(testRunner, QEMU_BINARY, process.getuid?.() === 0)
  : undefined;
if (probe && probe.missing.length > 0) {
  console.warn(`[skip] qemu contract runs partly unconfined: ${probe.missing.join('; ')}`);
}
const driver = (): QemuVmm =>
  new QemuVmm({ runner: testRunner, accel: 'tcg', confinement: probe?.confinement });

vmmContract('qemu (tcg, confined)', driver, {
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
      runAs: { uid: 2_000_000_901, gid: 2_000_000_901 },
    });
  },
  jailOf: (vm) => join(vm.workDir, 'jail'),
});
