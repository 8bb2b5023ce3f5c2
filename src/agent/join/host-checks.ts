import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { readCgroup2Mount } from '../../drivers/cgroup-v2/cgroup2-mount.ts';

/** One line of `mvm add host`'s bootstrap report. */
export interface HostCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** The host facts the checks read; injected so tests can describe any host. */
export interface HostProbe {
  canOpen(path: string): Promise<boolean>;
  /** Absolute path of an executable, from PATH when the name is bare. */
  which(command: string): Promise<string | undefined>;
  cgroup2Mount(): Promise<string | undefined>;
}

/** The hypervisor binaries this host's agent is configured with (MVM_QEMU_BINARY, MVM_FIRECRACKER_BIN). */
export interface HypervisorBinaries {
  qemu: string;
  firecracker: string;
}

const DEFAULT_BINARIES: HypervisorBinaries = {
  qemu: 'qemu-system-x86_64',
  firecracker: 'firecracker',
};

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

export const systemHostProbe: HostProbe = {
  canOpen: (path) =>
    access(path, constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    ),
  async which(command) {
    if (isAbsolute(command)) return (await executable(command)) ? command : undefined;
    for (const dir of (process.env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
      if (await executable(join(dir, command))) return join(dir, command);
    }
    return undefined;
  },
  cgroup2Mount: () => readCgroup2Mount('/proc/self/mountinfo'),
};

async function hypervisor(probe: HostProbe, binaries: HypervisorBinaries): Promise<HostCheck> {
  const candidates = [binaries.qemu, binaries.firecracker];
  const found: string[] = [];
  for (const candidate of candidates) {
    const path = await probe.which(candidate);
    if (path !== undefined) found.push(path);
  }
  return found.length > 0
    ? { name: 'hypervisor', ok: true, detail: found.join(', ') }
    : {
        name: 'hypervisor',
        ok: false,
        detail: `none of ${candidates.join(', ')} on PATH; install qemu-system-x86 or Firecracker`,
      };
}

/**
 * What a host needs to run microVMs: KVM, cgroup v2 for per-VM limits, nftables for tenant
 * isolation, mkfs.ext4 for drives, and a hypervisor binary. Every check runs; the caller decides what a failure means.
 */
export async function runHostChecks(
  probe: HostProbe = systemHostProbe,
  binaries: HypervisorBinaries = DEFAULT_BINARIES,
): Promise<HostCheck[]> {
  const kvm = await probe.canOpen('/dev/kvm');
  const cgroup = await probe.cgroup2Mount();
  const nft = await probe.which('nft');
  const mkfs = await probe.which('mkfs.ext4');
  return [
    {
      name: '/dev/kvm',
      ok: kvm,
      detail: kvm
        ? 'readable and writable'
        : 'missing or not accessible; enable virtualization and load kvm',
    },
    {
      name: 'cgroup v2',
      ok: cgroup !== undefined,
      detail: cgroup ?? 'no cgroup2 mount in /proc/self/mountinfo; boot with the unified hierarchy',
    },
    { name: 'nft', ok: nft !== undefined, detail: nft ?? 'not on PATH; install nftables' },
    {
      name: 'e2fsprogs',
      ok: mkfs !== undefined,
      detail: mkfs ?? 'mkfs.ext4 not on PATH (it builds every drive); install e2fsprogs',
    },
    await hypervisor(probe, binaries),
  ];
}
