import type { DriveDigests } from '../../contract/guest-protocol.ts';
import { roleHasDrive } from '../../core/roles.ts';
import type { CgroupInfo } from '../../ports/cgroups.ts';
import type { DriveSpec, VmSpec } from '../../ports/vmm.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import type { GuestImage } from './image-source.ts';
import { instanceDir } from './layout.ts';

/** Pids a VMM may fork (QEMU's own threads count against pids.max). */
const PIDS_PER_VM = 256;

/**
 * Builds the host side of one boot or wake: drives per role (data kept, secrets rebuilt,
 * config at its version), the cgroup with its limits, and the VmSpec that uses them.
 */
export async function materialize(
  deps: RuntimeDeps,
  record: VmRecord,
): Promise<{ spec: VmSpec; cgroup: CgroupInfo | undefined; digests: DriveDigests }> {
  const dir = instanceDir(deps.layout, record.key);
  const image = await deps.images.resolve(record.spec.revision);
  const { drives, digests } = await buildDrives(deps, record, dir, image);
  const cgroup = await deps.cgroups?.create(record.key, {
    vcpus: record.spec.vcpus,
    memMib: record.spec.memMib,
    pids: PIDS_PER_VM,
  });
  const spec: VmSpec = {
    key: record.key,
    workDir: dir,
    vcpus: record.spec.vcpus,
    memMib: record.spec.memMib,
    kernelPath: image.kernelPath,
    ...(image.initrdPath ? { initrdPath: image.initrdPath } : {}),
    cmdline: `${image.cmdlineBase} ${guestParams(record, deps.network?.guestMtu)}`,
    drives,
    nets: record.spec.network ? [{ id: 'eth0', tap: record.spec.tap, mac: record.spec.mac }] : [],
    ...(cgroup ? { cgroupDir: cgroup.dir } : {}),
  };
  return { spec, cgroup, digests };
}

async function buildDrives(
  deps: RuntimeDeps,
  record: VmRecord,
  dir: string,
  image: GuestImage,
): Promise<{ drives: DriveSpec[]; digests: DriveDigests }> {
  const { role } = record.spec;
  const drives: DriveSpec[] = [];
  const digests: DriveDigests = {};
  if (image.rootfsPath) drives.push({ id: 'rootfs', path: image.rootfsPath, readOnly: true });
  if (roleHasDrive(role, 'data')) {
    const path = await deps.drives.ensureData(dir, record.spec.dataDiskMib);
    drives.push({ id: 'data', path, readOnly: false });
  }
  if (roleHasDrive(role, 'secrets')) {
    const built = await deps.drives.buildSecrets(dir, record.secrets);
    drives.push({ id: 'secrets', path: built.path, readOnly: true });
    digests.secrets = built.digest;
  }
  if (roleHasDrive(role, 'config') && record.config) {
    const built = await deps.drives.buildConfig(dir, record.config.version, record.config.files);
    drives.push({ id: 'config', path: built.path, readOnly: true });
    digests.config = built.digest;
  }
  return { drives, digests };
}

/**
 * What the dev image's /init reads from the kernel command line. `tenantMtu` is set on nodes
 * whose tenants may span nodes: a tenant guest's frames must then fit through VXLAN.
 */
export function guestParams(record: VmRecord, tenantMtu?: number): string {
  const { ip, prefixLength, gateway } = record.spec;
  const onTenantNet = record.spec.network && record.spec.tenant !== undefined;
  return [
    `mvm.hostname=${record.instanceId}`,
    `mvm.ip=${ip}/${prefixLength}`,
    ...(gateway ? [`mvm.gw=${gateway}`] : []),
    ...(onTenantNet && tenantMtu !== undefined ? [`mvm.mtu=${tenantMtu}`] : []),
  ].join(' ');
}
