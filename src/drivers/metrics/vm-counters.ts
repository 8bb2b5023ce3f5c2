import { join } from 'node:path';
import type { Cgroups } from '../../ports/cgroups.ts';
import { readHostCounters, readOptional } from '../activity/host-activity-probe.ts';

/** One VM's counters as the host reads them now; a field is absent when unreadable. */
export interface VmCounterReading {
  /** CPU time, µs: its cgroup's when it has one (kept across VMMs), else the VMM process's. */
  cpuUsec?: number;
  /** Where cpuUsec came from: 'cgroup', or the VMM pid (which restarts at 0). */
  cpuSource?: string;
  rssBytes?: number;
  /** Bytes through the tap as the host counts them: rx is what the guest sent. */
  netRxBytes?: number;
  netTxBytes?: number;
  /** Bytes the VMM process read and wrote to storage (its drives, snapshots). */
  blockReadBytes?: number;
  blockWriteBytes?: number;
}

/**
 * Reads the per-instance counters behind the agent's metrics from procfs and the instance's
 * cgroup: CPU, resident memory, tap bytes each way (`/proc/<pid>/net/dev`, so the tap is found
 * in the VMM's namespace) and block I/O (`/proc/<pid>/io`).
 */
export class VmCounterProbe {
  constructor(
    private readonly options: { cgroups?: Pick<Cgroups, 'cpuUsageUsec'>; procRoot?: string } = {},
  ) {}

  async read(vm: { key: string; pid: number; tap: string }): Promise<VmCounterReading> {
    const procRoot = this.options.procRoot ?? '/proc';
    const host = await readHostCounters(procRoot, this.options.cgroups, vm);
    const io = ioCounters(await readOptional(join(procRoot, String(vm.pid), 'io')));
    return {
      ...(host.cpuUsec !== undefined ? { cpuUsec: host.cpuUsec, cpuSource: host.cpuSource } : {}),
      ...(host.rssKib !== undefined ? { rssBytes: host.rssKib * 1024 } : {}),
      ...(host.tap ? { netRxBytes: host.tap.rx, netTxBytes: host.tap.tx } : {}),
      ...(io ? { blockReadBytes: io.read, blockWriteBytes: io.write } : {}),
    };
  }
}

/** read_bytes and write_bytes of a /proc/<pid>/io text (what reached the storage layer). */
export function ioCounters(io: string): { read: number; write: number } | undefined {
  const read = /^read_bytes:\s+(\d+)$/m.exec(io)?.[1];
  const write = /^write_bytes:\s+(\d+)$/m.exec(io)?.[1];
  if (read === undefined || write === undefined) return undefined;
  return { read: Number(read), write: Number(write) };
}
