import type { CgroupLimits } from '../../ports/cgroups.ts';

/** The default CFS period; cpu.max's quota is a share of it. */
const CPU_PERIOD_US = 100_000;
/** The kernel refuses quotas under 1 ms. */
const MIN_CPU_QUOTA_US = 1_000;
const MIB = 1024 * 1024;

export type Controller = 'cpu' | 'memory' | 'pids';

export interface LimitFile {
  limit: keyof CgroupLimits;
  controller: Controller;
  file: string;
  value: string;
}

/** Every limit as the controller that enforces it and the file line that sets it. */
export function limitFiles(limits: CgroupLimits): LimitFile[] {
  const quota = Math.max(MIN_CPU_QUOTA_US, Math.round(limits.vcpus * CPU_PERIOD_US));
  return [
    { limit: 'vcpus', controller: 'cpu', file: 'cpu.max', value: `${quota} ${CPU_PERIOD_US}` },
    { limit: 'memMib', controller: 'memory', file: 'memory.max', value: `${limits.memMib * MIB}` },
    { limit: 'pids', controller: 'pids', file: 'pids.max', value: `${limits.pids}` },
  ];
}

export const wantedControllers: readonly Controller[] = ['cpu', 'memory', 'pids'];

/** One limit as a v1 hierarchy writes it: some take two files, written in this order. */
export interface LimitFilesV1 {
  limit: keyof CgroupLimits;
  controller: Controller;
  files: { file: string; value: string }[];
}

/** The same limits in the legacy (v1) controllers' files. */
export function limitFilesV1(limits: CgroupLimits): LimitFilesV1[] {
  const quota = Math.max(MIN_CPU_QUOTA_US, Math.round(limits.vcpus * CPU_PERIOD_US));
  return [
    {
      limit: 'vcpus',
      controller: 'cpu',
      files: [
        { file: 'cpu.cfs_period_us', value: `${CPU_PERIOD_US}` },
        { file: 'cpu.cfs_quota_us', value: `${quota}` },
      ],
    },
    {
      limit: 'memMib',
      controller: 'memory',
      files: [{ file: 'memory.limit_in_bytes', value: `${limits.memMib * MIB}` }],
    },
    { limit: 'pids', controller: 'pids', files: [{ file: 'pids.max', value: `${limits.pids}` }] },
  ];
}
