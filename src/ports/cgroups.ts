/** cgroup v2, per instance. Hybrid hosts mount cgroup2 elsewhere than /sys/fs/cgroup. */
export interface CgroupLimits {
  /** CPU quota in vCPUs (cpu.max = vcpus * period). */
  vcpus: number;
  memMib: number;
  pids: number;
}

export interface CgroupInfo {
  /** Absolute directory of the instance's cgroup. */
  dir: string;
  /** Limits actually written; a controller the host does not delegate to cgroup2 is listed in `unavailable`. */
  applied: Array<keyof CgroupLimits>;
  unavailable: Array<keyof CgroupLimits>;
}

export interface Cgroups {
  /** The cgroup2 mount point found on this host, or undefined when there is none. */
  mountPoint(): Promise<string | undefined>;
  /** Creates (idempotently) `<mount>/mvm.slice/<key>` and writes the limits it can. */
  create(key: string, limits: CgroupLimits): Promise<CgroupInfo>;
  /** Moves a process into the instance's cgroup. */
  place(key: string, pid: number): Promise<void>;
  /** Pids listed in the instance's cgroup.procs. */
  pids(key: string): Promise<number[]>;
  /**
   * CPU time the instance's cgroup has used, in microseconds (`usage_usec` of cpu.stat,
   * present in every cgroup2 directory even without the cpu controller); undefined when the
   * cgroup does not exist.
   */
  cpuUsageUsec(key: string): Promise<number | undefined>;
  /** Removes the cgroup (killing nothing: the caller stops the VMM first); idempotent. */
  remove(key: string): Promise<void>;
  /** Keys of every mvm cgroup present, to find orphans. */
  list(): Promise<string[]>;
}
