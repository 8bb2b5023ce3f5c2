import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActivityCounters, ActivityProbe } from '../../ports/activity-probe.ts';
import type { Cgroups } from '../../ports/cgroups.ts';

/** USER_HZ: the unit of /proc/<pid>/stat times, 100 on every Linux architecture we run on. */
const USEC_PER_TICK = 1_000_000 / 100;

export interface HostActivityProbeOptions {
  /** The instance cgroups; without them, or for a VM without one, the VMM's own CPU time. */
  cgroups?: Pick<Cgroups, 'cpuUsageUsec'>;
  /** procfs; tests point it elsewhere. */
  procRoot?: string;
}

/**
 * Reads a VM's counters from the host: CPU time from its cgroup's cpu.stat (or the VMM
 * process's stat), and its tap's byte counters from `/proc/<vmm pid>/net/dev`. The VMM
 * opened its tap in its own network namespace, so its pid finds the tap whether the agent
 * runs the VMMs in the root namespace or in another one.
 */
export class HostActivityProbe implements ActivityProbe {
  private readonly procRoot: string;

  constructor(private readonly options: HostActivityProbeOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
  }

  async read(vm: { key: string; pid: number; tap: string }): Promise<ActivityCounters> {
    const host = await readHostCounters(this.procRoot, this.options.cgroups, vm);
    const netBytes = host.tap === undefined ? undefined : host.tap.rx + host.tap.tx;
    return {
      ...(host.cpuUsec !== undefined ? { cpuUsec: host.cpuUsec } : {}),
      ...(netBytes !== undefined ? { netBytes } : {}),
      ...(host.rssKib !== undefined ? { rssKib: host.rssKib } : {}),
    };
  }
}

/** One VMM's counters as procfs and its cgroup give them; the activity probe and the metrics share it. */
export interface HostCounters {
  cpuUsec?: number;
  /** 'cgroup', or the VMM pid whose own CPU time it is (that restarts with each process). */
  cpuSource?: string;
  rssKib?: number;
  tap?: { rx: number; tx: number };
}

export async function readHostCounters(
  procRoot: string,
  cgroups: Pick<Cgroups, 'cpuUsageUsec'> | undefined,
  vm: { key: string; pid: number; tap: string },
): Promise<HostCounters> {
  const proc = join(procRoot, String(vm.pid));
  const cgroupUsec = await cgroups?.cpuUsageUsec(vm.key).catch(() => undefined);
  const cpuUsec = cgroupUsec ?? processCpuUsec(await readOptional(join(proc, 'stat')));
  const tap = tapCounters(await readOptional(join(proc, 'net', 'dev')), vm.tap);
  const rssKib = residentKib(await readOptional(join(proc, 'status')));
  return {
    ...(cpuUsec !== undefined
      ? { cpuUsec, cpuSource: cgroupUsec !== undefined ? 'cgroup' : String(vm.pid) }
      : {}),
    ...(rssKib !== undefined ? { rssKib } : {}),
    ...(tap !== undefined ? { tap } : {}),
  };
}

export async function readOptional(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

/** utime + stime of a /proc/<pid>/stat line, in microseconds. */
export function processCpuUsec(stat: string): number | undefined {
  // The command name may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (stat === '' || !Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) * USEC_PER_TICK;
}

/** Received plus transmitted bytes of `iface` in a /proc/net/dev table. */
export function tapBytes(netDev: string, iface: string): number | undefined {
  const counters = tapCounters(netDev, iface);
  return counters === undefined ? undefined : counters.rx + counters.tx;
}

/** Received and transmitted bytes of `iface` in a /proc/net/dev table. */
export function tapCounters(netDev: string, iface: string): { rx: number; tx: number } | undefined {
  for (const line of netDev.split('\n')) {
    const colon = line.indexOf(':');
    if (colon === -1 || line.slice(0, colon).trim() !== iface) continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    const rx = fields[0];
    const tx = fields[8];
    if (rx === undefined || tx === undefined || !Number.isFinite(rx + tx)) return undefined;
    return { rx, tx };
  }
  return undefined;
}

/** VmRSS of a /proc/<pid>/status text, in KiB (the kernel writes it in kB, meaning KiB). */
export function residentKib(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
