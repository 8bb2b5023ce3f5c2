import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cgroups } from '../../ports/cgroups.ts';
import { processCpuUsec, residentKib, tapCounters } from '../activity/host-activity-probe.ts';

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
    const proc = join(this.options.procRoot ?? '/proc', String(vm.pid));
    const cgroupUsec = await this.options.cgroups?.cpuUsageUsec(vm.key).catch(() => undefined);
    const cpuUsec = cgroupUsec ?? processCpuUsec(await readOptional(join(proc, 'stat')));
    const rssKib = residentKib(await readOptional(join(proc, 'status')));
    const tap = tapCounters(await readOptional(join(proc, 'net', 'dev')), vm.tap);
    const io = ioCounters(await readOptional(join(proc, 'io')));
    return {
      ...(cpuUsec !== undefined
        ? { cpuUsec, cpuSource: cgroupUsec !== undefined ? 'cgroup' : String(vm.pid) }
        : {}),
      ...(rssKib !== undefined ? { rssBytes: rssKib * 1024 } : {}),
      ...(tap ? { netRxBytes: tap.rx, netTxBytes: tap.tx } : {}),
      ...(io ? { blockReadBytes: io.read, blockWriteBytes: io.write } : {}),
    };
  }
}

async function readOptional(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

/** read_bytes and write_bytes of a /proc/<pid>/io text (what reached the storage layer). */
export function ioCounters(io: string): { read: number; write: number } | undefined {
  const read = /^read_bytes:\s+(\d+)$/m.exec(io)?.[1];
  const write = /^write_bytes:\s+(\d+)$/m.exec(io)?.[1];
  if (read === undefined || write === undefined) return undefined;
  return { read: Number(read), write: Number(write) };
}
