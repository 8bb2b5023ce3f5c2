/** Cumulative counters of one VM as the host sees them; a field is absent when unreadable. */
export interface ActivityCounters {
  /** CPU time used by the VMM (its cgroup when there is one), microseconds. */
  cpuUsec?: number;
  /** Bytes through the VM's tap, both directions. */
  netBytes?: number;
  /** Not a counter: the VMM's resident memory when read, KiB. */
  rssKib?: number;
}

/** Reads a running VM's counters: its cgroup key, VMM pid and tap name identify it. */
export interface ActivityProbe {
  read(vm: { key: string; pid: number; tap: string }): Promise<ActivityCounters>;
}
