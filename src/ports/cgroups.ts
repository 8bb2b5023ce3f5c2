/**
 * Per-instance cgroups. Each limit's controller is wherever this host keeps it: the unified
 * (v2) hierarchy, or a legacy v1 one on hybrid hosts (cgroup2 mounted beside v1 hierarchies,
 * often at /sys/fs/cgroup/unified). Drivers detect that; callers see one interface.
 */
export interface CgroupLimits {
  /** CPU quota in vCPUs (quota = vcpus * period: cpu.max, or cpu.cfs_quota_us on v1). */
  vcpus: number;
  /** Memory limit of the whole VMM process: guest RAM plus the VMM's own overhead. */
  memMib: number;
  pids: number;
}

export type CgroupController = 'cpu' | 'memory' | 'pids';

export interface CgroupLayout {
  /** v2: all on cgroup2; v1: legacy hierarchies only; hybrid: both in use; none: no cgroups. */
  mode: 'v2' | 'v1' | 'hybrid' | 'none';
  /** Where each limit's controller lives on this host. */
  controllers: Record<CgroupController, 'v2' | 'v1' | 'none'>;
}

export interface CgroupInfo {
  /** The instance's main cgroup directory (cgroup2's when there is one). */
  dir: string;
  /** Every directory of the instance, one per hierarchy: the VMM must be in each. */
  dirs: string[];
  /** Limits actually written; a controller this host does not offer is listed in `unavailable`. */
  applied: Array<keyof CgroupLimits>;
  unavailable: Array<keyof CgroupLimits>;
}

export interface Cgroups {
  /** Where each controller is, detected once. */
  layout(): Promise<CgroupLayout>;
  /** The cgroup2 mount point found on this host, or undefined when there is none. */
  mountPoint(): Promise<string | undefined>;
  /** Creates (idempotently) `<mount>/mvm.slice/<key>` in each hierarchy and writes the limits it can. */
  create(key: string, limits: CgroupLimits): Promise<CgroupInfo>;
  /** Moves a process into the instance's cgroup (in every hierarchy). */
  place(key: string, pid: number): Promise<void>;
  /** Pids listed in the instance's cgroup.procs. */
  pids(key: string): Promise<number[]>;
  /**
   * CPU time the instance's cgroup has used, in microseconds (cgroup2's cpu.stat `usage_usec`,
   * present without the cpu controller; v1's cpuacct.usage otherwise); undefined when the
   * cgroup does not exist.
   */
  cpuUsageUsec(key: string): Promise<number | undefined>;
  /** How often the kernel's OOM killer killed in the instance's memory cgroup (0 if unknown). */
  oomKills(key: string): Promise<number>;
  /** Removes the cgroup (killing nothing: the caller stops the VMM first); idempotent. */
  remove(key: string): Promise<void>;
  /** Keys of every mvm cgroup present, to find orphans. */
  list(): Promise<string[]>;
}
