/**
 * The Vmm contract against a real Firecracker, through the jailer as the agent runs it (a
 * per-instance uid/gid, a chroot of the VM's files only, Firecracker's seccomp filters on)
 * when the jailer binary is there and we are root; unjailed, said loudly, otherwise. Every
 * API step runs for real; guest checks run only where Firecracker's guest can reach its
 * agent, decided by probing the host (firecrackerGuestProblem), never assumed: on a PVM
 * /dev/kvm the guest makes no progress.
 */
import { mkdtempSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { firecrackerGuestProblem } from '../../src/agent/load-vmm.ts';
import { FirecrackerVmm } from '../../src/drivers/firecracker/firecracker-vmm.ts';
import {
  versionAtLeast,
  versionFromBinary,
} from '../../src/drivers/firecracker/firecracker-version.ts';
import { devImage, guestSpec, testRunner } from '../support/qemu-guest.ts';
import {
  firecrackerBin,
  hasKvm,
  isRoot,
  jailerBin,
  systemClock,
} from './firecracker/support/firecracker-env.ts';
import { vmmContract } from './vmm-contract.ts';

const binary = firecrackerBin();
const kvm = hasKvm();
const unavailable = !binary.ok ? binary.why : !kvm.ok ? kvm.why : undefined;

const problem = await firecrackerGuestProblem();
/** Firecracker before 1.4 now and then loses an API request for good (fixed upstream in 1.4). */
const version = binary.ok ? await versionFromBinary(testRunner, binary.value) : undefined;
const retry = version && !versionAtLeast(version, 1, 4) ? 2 : 0;

const jailer = jailerBin();
const jailed = jailer.ok && isRoot();
if (!jailed) {
  console.warn(
    `[skip] firecracker contract runs UNJAILED: ${jailer.ok ? 'the jailer needs root' : jailer.why}`,
  );
}
/** The agent's scheme: one uid/gid per instance, from a high base. */
const RUN_AS = { uid: 2_000_000_902, gid: 2_000_000_902 };

function driver(): FirecrackerVmm {
  return new FirecrackerVmm({
    firecrackerBin: binary.ok ? binary.value : '',
    runner: testRunner,
    clock: systemClock,
    // A guest that makes no progress never reacts to Ctrl-Alt-Del; do not wait long for it.
    timeouts: { gracefulStopMs: problem ? 300 : 3_000, apiProbeMs: 2_000 },
    ...(jailed && jailer.ok
      ? {
          jailer: {
            jailerBin: jailer.value,
            // The jailer's defaults; the spec's runAs wins.
            uid: 10_000,
            gid: 10_000,
            // Short: socket paths inside the chroot must fit in 108 bytes.
            chrootBaseDir: mkdtempSync('/tmp/mvm-fcj-'),
          },
        }
      : {}),
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
      runAs: RUN_AS,
    });
  },
  // The jail's root holds the API socket.
  jailOf: (vm) => dirname(vm.controlSocket),
});
