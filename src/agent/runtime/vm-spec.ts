import type { DriveDigests } from '../../contract/guest-protocol.ts';
import { drivesForRole } from '../../core/roles.ts';
import type { DriveKind } from '../../core/roles.ts';
import type { CgroupInfo } from '../../ports/cgroups.ts';
import type { DriveSpec, VmSpec } from '../../ports/vmm.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import type { GuestImage } from './image-source.ts';
import { HostError } from '../../core/errors.ts';
import { machineIdOf } from '../../core/machine-id.ts';
import { timed } from '../../drivers/clock/phase-timer.ts';
import { instanceDir, secretsDirOf } from './layout.ts';

/**
 * Tasks a VMM may have. A VMM never forks (QEMU's seccomp filter denies it, Firecracker's
 * allows no fork either); its threads (vCPUs, I/O workers, up to 64 in QEMU's block pool)
 * count against pids.max, which caps what a compromised VMM could start on the host.
 */
export const PIDS_PER_VM = 256;

export interface MaterializeOptions {
  /**
   * Return once the secrets drive exists at its final path and size, its content still being
   * written (`written`): a wake restores its VMM meanwhile and resumes only after `written`.
   */
  deferWrites?: boolean;
}

export interface Materialized {
  spec: VmSpec;
  cgroup: CgroupInfo | undefined;
  digests: DriveDigests;
  /** Settles when every drive's content is complete (at once without `deferWrites`). */
  written: Promise<void>;
  /** How long each side-by-side part took, ms (they overlap: for the wake's log line). */
  partsMs: Record<string, number>;
}

/**
 * Builds the host side of one boot or wake: drives per role (data kept, secrets rebuilt,
 * config at its version), the cgroup with its limits, and the VmSpec that uses them. The
 * memory limit is guest RAM plus the VMM's measured overhead (capabilities().memOverheadMib);
 * the VMM runs as the instance's own identity when its driver confines it.
 */
export async function materialize(
  deps: RuntimeDeps,
  record: VmRecord,
  options: MaterializeOptions = {},
): Promise<Materialized> {
  const dir = instanceDir(deps.layout, record.key);
  const partsMs: Record<string, number> = {};
  const capabilities = await timed(partsMs, 'capabilities', deps.vmm.capabilities());
  const inPlace = options.deferWrites === true && capabilities.drivesInPlace === true;
  const pending: Promise<void>[] | undefined = inPlace ? [] : undefined;
  // Independent of each other, so side by side: a wake waits for the slowest (the secrets
  // drive's mkfs, unless it is written in place), not for the sum (bench/wake-overhead.ts).
  const cgroupMade = timed(
    partsMs,
    'cgroup',
    Promise.resolve(
      deps.cgroups?.create(record.key, {
        vcpus: record.spec.vcpus,
        memMib: record.spec.memMib + capabilities.memOverheadMib,
        pids: PIDS_PER_VM,
      }),
    ),
  );
  const built = timed(partsMs, 'image', deps.images.resolve(record.spec.revision)).then(
    async (image) => ({
      image,
      ...(await buildDrives(deps, record, dir, image, pending, partsMs)),
    }),
  );
  const [{ image, drives, digests }, cgroup, runAs] = await allSettledOrThrow(
    built,
    cgroupMade,
    timed(partsMs, 'identity', deps.identities.of(record.key)),
  ).catch(async (error: unknown) => {
    // Nothing keeps writing behind a caller that cleans up after this failure.
    await Promise.allSettled(pending ?? []);
    throw error;
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
    nets: guestNics(deps, record),
    ...(cgroup ? { cgroupDirs: cgroup.dirs } : {}),
    runAs,
  };
  const written = Promise.all(pending ?? []).then(() => undefined);
  // Awaited by the caller later (after its restore): a failure meanwhile is not unhandled.
  written.catch(() => undefined);
  return { spec, cgroup, digests, written, partsMs };
}

/**
 * The guest's NIC, on the tap the network driver made. Without tenant networking
 * (MVM_NETWORK=off, not root) no driver made one: the VMM gets a transient tap on no bridge
 * (a confined QEMU's helper, mvm-tapfd, otherwise refuses a missing tap).
 */
function guestNics(deps: RuntimeDeps, record: VmRecord): VmSpec['nets'] {
  if (!record.spec.network) return [];
  const nic = { id: 'eth0', tap: record.spec.tap, mac: record.spec.mac };
  return [deps.network === undefined ? { ...nic, transient: true } : nic];
}

type BuiltDrive = { drives: DriveSpec[]; digests?: DriveDigests } | undefined;

/** How each kind of drive is made; which kinds an instance gets is its role's (core/roles). */
const driveBuilders: Record<
  DriveKind,
  (
    deps: RuntimeDeps,
    record: VmRecord,
    dir: string,
    image: GuestImage,
    pending?: Promise<void>[],
  ) => Promise<BuiltDrive>
> = {
  // The dev image may boot from its initrd alone: then there is no rootfs to attach. mvm's
  // own drive (init and agent) comes with the image's root, never inside it.
  // The run-spec drive (the image's process, Env, WorkingDir) comes per revision beside it.
  rootfs: async (_deps, _record, _dir, image) =>
    image.rootfsPath
      ? {
          drives: [
            { id: 'rootfs', path: image.rootfsPath, readOnly: true },
            ...(image.initDrivePath
              ? [{ id: 'mvm-init', path: image.initDrivePath, readOnly: true }]
              : []),
            ...(image.runSpecPath
              ? [{ id: 'mvm-run', path: image.runSpecPath, readOnly: true }]
              : []),
          ],
        }
      : undefined,
  data: async (deps, record, dir) => {
    const path = await deps.drives.ensureData(dir, record.spec.dataDiskMib);
    return { drives: [{ id: 'data', path, readOnly: false }] };
  },
  // Built outside the data dir (tmpfs): the image holds the values in clear for the VMM.
  // With `pending`, laid out in place: its mkfs runs while the VMM restores.
  secrets: async (deps, record, _dir, _image, pending) => {
    const values = await secretValues(deps, record);
    const at = secretsDirOf(deps.layout, record.key);
    const built =
      pending && deps.drives.layoutSecrets
        ? await deps.drives.layoutSecrets(at, values).then((laid) => {
            pending.push(laid.written);
            return laid;
          })
        : await deps.drives.buildSecrets(at, values);
    return {
      drives: [{ id: 'secrets', path: built.path, readOnly: true }],
      digests: { secrets: built.digest },
    };
  },
  config: async (deps, record, dir) => {
    if (!record.config) return undefined;
    const built = await deps.drives.buildConfig(dir, record.config.version, record.config.files);
    return {
      drives: [{ id: 'config', path: built.path, readOnly: true }],
      digests: { config: built.digest },
    };
  },
};

/**
 * The values for the secrets drive: those given through the local API, under the
 * coordinator's current ones when the pool has secrets there (fetched now, kept nowhere).
 */
async function secretValues(deps: RuntimeDeps, record: VmRecord): Promise<Record<string, string>> {
  if (record.spec.secretsDigest === undefined) return record.secrets;
  if (!deps.secrets) {
    throw new HostError(
      `instance '${record.key}' has secrets on the coordinator, but this agent follows no coordinator; start it with its node identity (or --node and a token)`,
      { key: record.key },
    );
  }
  const fetched = await deps.secrets.fetch({ tenantId: record.tenantId, poolId: record.poolId });
  return { ...record.secrets, ...fetched };
}

async function buildDrives(
  deps: RuntimeDeps,
  record: VmRecord,
  dir: string,
  image: GuestImage,
  pending?: Promise<void>[],
  partsMs: Record<string, number> = {},
): Promise<{ drives: DriveSpec[]; digests: DriveDigests }> {
  const drives: DriveSpec[] = [];
  const digests: DriveDigests = {};
  const kinds = drivesForRole(record.spec.role, image.drives);
  // Built side by side (each its own file), listed in the role's order.
  const builds = await allSettledOrThrow(
    ...kinds.map((kind) =>
      timed(partsMs, `drive.${kind}`, driveBuilders[kind](deps, record, dir, image, pending)),
    ),
  );
  for (const built of builds) {
    if (!built) continue;
    drives.push(...built.drives);
    Object.assign(digests, built.digests);
  }
  return { drives, digests };
}

/**
 * Waits for every one of `work` (none is left running behind a caller that cleans up after a
 * failure), then throws the first failure, or returns the results in order.
 */
export async function allSettledOrThrow<T extends unknown[]>(
  ...work: { [K in keyof T]: Promise<T[K]> }
): Promise<T> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
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
    `mvm.machine_id=${machineIdOf(record.key)}`,
    // The guest's init applies the role (a gateway forwards and reads gateway.json).
    `mvm.role=${record.spec.role}`,
    `mvm.ip=${ip}/${prefixLength}`,
    ...(gateway ? [`mvm.gw=${gateway}`] : []),
    ...(onTenantNet && tenantMtu !== undefined ? [`mvm.mtu=${tenantMtu}`] : []),
  ].join(' ');
}
