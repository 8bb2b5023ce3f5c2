/**
 * The Vmm contract against a real Firecracker. Every API step runs for real; guest checks
 * run only where Firecracker's guest can reach its agent, decided by probing the host
 * (firecrackerGuestProblem), never assumed: on a PVM /dev/kvm the guest makes no progress.
 */
import { join } from 'node:path';
import { firecrackerGuestProblem } from '../../src/agent/load-vmm.ts';
import { FirecrackerVmm } from '../../src/drivers/firecracker/firecracker-vmm.ts';
import {
  versionAtLeast,
  versionFromBinary,
} from '../../src/drivers/firecracker/firecracker-version.ts';
import { devImage, guestSpec, testRunner } from '../support/qemu-guest.ts';
import { firecrackerBin, hasKvm, systemClock } from './firecracker/support/firecracker-env.ts';
import { vmmContract } from './vmm-contract.ts';

const binary = firecrackerBin();
const kvm = hasKvm();
const unavailable = !binary.ok ? binary.why : !kvm.ok ? kvm.why : undefined;

const problem = await firecrackerGuestProblem();
/** Firecracker before 1.4 now and then loses an API request for good (fixed upstream in 1.4). */
const version = binary.ok ? await versionFromBinary(testRunner, binary.value) : undefined;
const retry = version && !versionAtLeast(version, 1, 4) ? 2 : 0;

function driver(): FirecrackerVmm {
  return new FirecrackerVmm({
    firecrackerBin: binary.ok ? binary.value : '',
    runner: testRunner,
    clock: systemClock,
    // A guest that makes no progress never reacts to Ctrl-Alt-Del; do not wait long for it.
    timeouts: { gracefulStopMs: problem ? 300 : 3_000, apiProbeMs: 2_000 },
  });
}

vmmContract(`firecracker ${version?.raw ?? ''}`.trim(), driver, {
  ...(unavailable ? { unavailable } : {}),
  guestBoots: problem === undefined,
  ...(problem ? { guestSkipReason: problem } : {}),
  retry,
  async spec(workDir) {
    const image = await devImage();
    const data = join(workDir, '..', 'data.ext4');
    await testRunner.run('mkfs.ext4', ['-q', '-F', '-L', 'data', data, '16M']);
    return guestSpec(image, workDir, {
      key: 'mvm-contract-fc',
      memMib: 128,
      drives: [{ id: 'data', path: data, readOnly: false }],
    });
  },
});
