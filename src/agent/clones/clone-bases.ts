import { baseKey } from '../../core/base-key.ts';
import type { BaseInputs } from '../../core/base-key.ts';
import { drivesForRole } from '../../core/roles.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { GuestImage } from '../runtime/image-source.ts';
import type { BaseStore, PoolBase } from './base-store.ts';

/**
 * Fast cold start from a pool base snapshot (docs/clones.md; `MVM_CLONES=on`): where the
 * bases are and what each is keyed by. The steps that use it are clone-steps.ts.
 */
export class CloneBases {
  private version: Promise<string> | undefined;

  constructor(
    readonly store: BaseStore,
    /** The VMM binary's version line (`qemu-system-x86_64 --version`), asked once. */
    private readonly vmmVersionOf: () => Promise<string>,
  ) {}

  vmmVersion(): Promise<string> {
    this.version ??= this.vmmVersionOf().catch((error: unknown) => {
      this.version = undefined;
      throw error;
    });
    return this.version;
  }

  async inputs(record: VmRecord, image: GuestImage): Promise<BaseInputs> {
    return {
      scope: { tenantId: record.tenantId, poolId: record.poolId },
      imageDigest: `${image.revision} ${image.rootfsPath ?? '-'} ${image.runSpecPath ?? '-'}`,
      kernel: `${image.kernelPath} ${image.initrdPath ?? '-'} ${image.cmdlineBase}`,
      vmmVersion: await this.vmmVersion(),
      vcpus: record.spec.vcpus,
      memMib: record.spec.memMib,
      // The init drive is content-addressed: its path changes with the agent binary.
      guestAgentVersion: image.initDrivePath ?? '-',
      layout: layoutOf(record, image),
      ...(record.spec.hooks?.warmUp ? { warmUp: JSON.stringify(record.spec.hooks.warmUp) } : {}),
    };
  }

  async find(record: VmRecord, image: GuestImage): Promise<PoolBase | undefined> {
    return this.store.find(baseKey(await this.inputs(record, image)));
  }
}

/**
 * The device layout materialize() gives this record (vm-spec.ts's drive builders, in role
 * order), without building anything: a restore needs the same devices in the same order.
 */
export function layoutOf(record: VmRecord, image: GuestImage): string {
  const drives = drivesForRole(record.spec.role, image.drives).flatMap((kind) => {
    if (kind === 'rootfs') {
      if (!image.rootfsPath) return [];
      return [
        'rootfs',
        ...(image.initDrivePath ? ['mvm-init'] : []),
        ...(image.runSpecPath ? ['mvm-run'] : []),
      ];
    }
    if (kind === 'data') return [`data:${record.spec.dataDiskMib}`];
    if (kind === 'config') return record.config ? ['config'] : [];
    return [kind];
  });
  return `${drives.join(',')};${record.spec.network ? 'eth0' : ''}`;
}
