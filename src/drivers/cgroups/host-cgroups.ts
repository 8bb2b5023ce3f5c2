import { rmdir } from 'node:fs/promises';
import type {
  CgroupController,
  CgroupInfo,
  CgroupLayout,
  CgroupLimits,
  Cgroups,
} from '../../ports/cgroups.ts';
import type { Clock } from '../../ports/clock.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { systemClock } from '../clock/system-clock.ts';
import { counterIn } from '../cgroup-v2/cgroup-files.ts';
import { assertCgroupKey, assertLimits, assertPid } from '../cgroup-v2/cgroup-inputs.ts';
import { CgroupV2 } from '../cgroup-v2/cgroup-v2.ts';
import { findCgroup2Mount, findCgroupV1Mounts, readMountinfo } from '../cgroup-v2/cgroup2-mount.ts';
import { limitFilesV1, wantedControllers } from '../cgroup-v2/limit-files.ts';
import { CgroupV1Hierarchy } from './cgroup-v1.ts';

export interface HostCgroupsOptions {
  /** Tests hand in a mountinfo whose mounts are temp dirs. */
  mountinfoPath?: string;
  removeTimeoutMs?: number;
  /** rmdir(2) on cgroupfs; tests substitute one with the kernel's EBUSY semantics. */
  removeDir?: (path: string) => Promise<void>;
  clock?: Clock;
  logger?: Logger;
}

interface Detected {
  /** The unified hierarchy, when mounted: membership, CPU time and the controllers it offers. */
  v2: CgroupV2 | undefined;
  /** The v1 hierarchy of each controller cgroup2 does not offer here. */
  v1: Partial<Record<CgroupController, CgroupV1Hierarchy>>;
  /** Without cgroup2, CPU time comes from v1's cpuacct. */
  cpuacct: CgroupV1Hierarchy | undefined;
  layout: CgroupLayout;
}

/**
 * Per-instance cgroups wherever this host keeps each controller: cgroup2 for the ones it
 * offers, else the legacy v1 hierarchy that has it. A hybrid host (cgroup2 at
 * /sys/fs/cgroup/unified with hugetlb only, cpu, memory and pids on v1, as on the development
 * host) gets its limits from v1 and keeps cgroup2 for membership and CPU time. Detected once
 * from mountinfo, never assumed.
 */
export class HostCgroups implements Cgroups {
  private detected: Promise<Detected> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: HostCgroupsOptions = {}) {
    this.log = options.logger ?? silentLogger;
  }

  async layout(): Promise<CgroupLayout> {
    return (await this.detect()).layout;
  }

  async mountPoint(): Promise<string | undefined> {
    return (await this.detect()).v2?.mountPoint();
  }

  async create(key: string, limits: CgroupLimits): Promise<CgroupInfo> {
    assertCgroupKey(key);
    assertLimits(limits);
    const found = await this.detect();
    const onV2 = found.v2 ? await found.v2.create(key, limits) : undefined;
    const info: CgroupInfo = {
      dir: onV2?.dir ?? '',
      dirs: onV2 ? [onV2.dir] : [],
      applied: onV2 ? [...onV2.applied] : [],
      unavailable: [],
    };
    for (const entry of limitFilesV1(limits)) {
      if (info.applied.includes(entry.limit)) continue;
      const hierarchy = found.v1[entry.controller];
      if (!hierarchy) {
        info.unavailable.push(entry.limit);
        continue;
      }
      addDir(info, await hierarchy.create(key, entry.files));
      info.applied.push(entry.limit);
    }
    if (found.cpuacct) addDir(info, await found.cpuacct.create(key, []));
    this.log.info({ key, ...info, mode: found.layout.mode }, 'created cgroup');
    return info;
  }

  async place(key: string, pid: number): Promise<void> {
    assertCgroupKey(key);
    assertPid(pid);
    const found = await this.detect();
    await found.v2?.place(key, pid);
    for (const hierarchy of hierarchies(found)) await hierarchy.place(key, pid);
  }

  async pids(key: string): Promise<number[]> {
    assertCgroupKey(key);
    const found = await this.detect();
    if (found.v2) return found.v2.pids(key);
    return hierarchies(found)[0]?.pids(key) ?? [];
  }

  async cpuUsageUsec(key: string): Promise<number | undefined> {
    assertCgroupKey(key);
    const found = await this.detect();
    if (found.v2) return found.v2.cpuUsageUsec(key);
    const nanos = Number((await found.cpuacct?.read(key, 'cpuacct.usage'))?.trim() || NaN);
    return Number.isFinite(nanos) ? Math.floor(nanos / 1000) : undefined;
  }

  async oomKills(key: string): Promise<number> {
    assertCgroupKey(key);
    const found = await this.detect();
    const memory = found.v1.memory;
    if (memory) return counterIn(await memory.read(key, 'memory.oom_control'), 'oom_kill');
    return found.v2 ? found.v2.oomKills(key) : 0;
  }

  async remove(key: string): Promise<void> {
    assertCgroupKey(key);
    const found = await this.detect();
    for (const hierarchy of hierarchies(found)) await hierarchy.remove(key);
    await found.v2?.remove(key);
  }

  async list(): Promise<string[]> {
    const found = await this.detect();
    const keys = new Set(found.v2 ? await found.v2.list() : []);
    for (const hierarchy of hierarchies(found)) {
      for (const key of await hierarchy.list()) keys.add(key);
    }
    return [...keys].sort();
  }

  private detect(): Promise<Detected> {
    this.detected ??= this.findHierarchies();
    return this.detected;
  }

  private async findHierarchies(): Promise<Detected> {
    const mountinfo = await readMountinfo(this.options.mountinfoPath ?? '/proc/self/mountinfo');
    const wait = {
      clock: this.options.clock ?? systemClock,
      timeoutMs: this.options.removeTimeoutMs ?? 2_000,
      removeDir: this.options.removeDir ?? rmdir,
    };
    const mount2 = findCgroup2Mount(mountinfo);
    const v2 =
      mount2 === undefined
        ? undefined
        : new CgroupV2({ ...this.options, root: mount2, logger: this.log });
    const offered = (await v2?.offered()) ?? [];
    const v1Mounts = findCgroupV1Mounts(mountinfo).map(
      (m) => new CgroupV1Hierarchy(m.mountPoint, m.controllers, wait),
    );
    const v1: Detected['v1'] = {};
    for (const controller of wantedControllers) {
      if (offered.includes(controller)) continue;
      const hierarchy = v1Mounts.find((h) => h.controllers.includes(controller));
      if (hierarchy) v1[controller] = hierarchy;
    }
    const cpuacct = v2 ? undefined : v1Mounts.find((h) => h.controllers.includes('cpuacct'));
    return { v2, v1, cpuacct, layout: layoutOf(v2 !== undefined, offered, v1, cpuacct) };
  }
}

function layoutOf(
  hasV2: boolean,
  offered: readonly CgroupController[],
  v1: Detected['v1'],
  cpuacct: CgroupV1Hierarchy | undefined,
): CgroupLayout {
  const where = (c: CgroupController) =>
    offered.includes(c) ? ('v2' as const) : v1[c] ? ('v1' as const) : ('none' as const);
  const controllers = { cpu: where('cpu'), memory: where('memory'), pids: where('pids') };
  const usesV1 = Object.values(controllers).includes('v1') || cpuacct !== undefined;
  const mode = hasV2 ? (usesV1 ? 'hybrid' : 'v2') : usesV1 ? 'v1' : 'none';
  return { mode, controllers };
}

/** The distinct v1 hierarchies in use, in a stable order. */
function hierarchies(found: Detected): CgroupV1Hierarchy[] {
  const all = [found.v1.cpu, found.v1.memory, found.v1.pids, found.cpuacct];
  return [...new Set(all.filter((h): h is CgroupV1Hierarchy => h !== undefined))];
}

function addDir(info: CgroupInfo, dir: string): void {
  if (!info.dirs.includes(dir)) info.dirs.push(dir);
  if (info.dir === '') info.dir = dir;
}
