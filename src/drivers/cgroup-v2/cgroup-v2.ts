import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UnavailableError } from '../../core/errors.ts';
import type { CgroupInfo, CgroupLayout, CgroupLimits, Cgroups } from '../../ports/cgroups.ts';
import type { Clock } from '../../ports/clock.ts';
import { systemClock } from '../clock/system-clock.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { readCgroup2Mount } from './cgroup2-mount.ts';
import { assertCgroupKey, assertLimits, assertPid, isCgroupKey } from './cgroup-inputs.ts';
import {
  counterIn,
  enableControllers,
  listKeys,
  placeOnce,
  readOptional,
  readPids,
  removeCgroupDir,
  words,
  makeCgroupDir,
  writeCgroupFile,
} from './cgroup-files.ts';
import { limitFiles, wantedControllers } from './limit-files.ts';
import type { Controller } from './limit-files.ts';

export const SLICE = 'mvm.slice';

export interface CgroupV2Options {
  /** The cgroup2 mount to use (tests pass a temp dir); found in mountinfo when absent. */
  root?: string;
  mountinfoPath?: string;
  /** How long remove() waits for exiting processes to leave. */
  removeTimeoutMs?: number;
  /** rmdir(2) on cgroupfs; tests substitute one with the kernel's EBUSY semantics. */
  removeDir?: (path: string) => Promise<void>;
  clock?: Clock;
  logger?: Logger;
}

/**
 * Per-instance cgroups under `<cgroup2 mount>/mvm.slice/<key>`, with the limits whose
 * controllers cgroup2 offers here (host-cgroups.ts adds v1 hierarchies for the others).
 */
export class CgroupV2 implements Cgroups {
  private readonly options: CgroupV2Options;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly removeDir: (path: string) => Promise<void>;
  private detected: Promise<string | undefined> | undefined;

  constructor(options: CgroupV2Options = {}) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger;
    this.removeDir = options.removeDir ?? rmdir;
  }

  mountPoint(): Promise<string | undefined> {
    if (this.options.root !== undefined) return Promise.resolve(this.options.root);
    this.detected ??= readCgroup2Mount(this.options.mountinfoPath ?? '/proc/self/mountinfo');
    return this.detected;
  }

  /** The controllers cgroup2 offers at its root (`cgroup.controllers`). */
  async offered(): Promise<Controller[]> {
    const mount = await this.mountPoint();
    if (mount === undefined) return [];
    const offered = words(await readOptional(join(mount, 'cgroup.controllers')));
    return wantedControllers.filter((c) => offered.includes(c));
  }

  async layout(): Promise<CgroupLayout> {
    if ((await this.mountPoint()) === undefined) {
      return { mode: 'none', controllers: { cpu: 'none', memory: 'none', pids: 'none' } };
    }
    const offered = await this.offered();
    const where = (c: Controller) => (offered.includes(c) ? ('v2' as const) : ('none' as const));
    return {
      mode: 'v2',
      controllers: { cpu: where('cpu'), memory: where('memory'), pids: where('pids') },
    };
  }

  async create(key: string, limits: CgroupLimits): Promise<CgroupInfo> {
    assertCgroupKey(key);
    assertLimits(limits);
    const mount = await this.requireMount();
    const enabled = await this.prepareSlice(mount);
    const dir = join(mount, SLICE, key);
    await makeCgroupDir(dir);
    const info: CgroupInfo = { dir, dirs: [dir], applied: [], unavailable: [] };
    for (const entry of limitFiles(limits)) {
      if (!enabled.includes(entry.controller)) {
        info.unavailable.push(entry.limit);
        continue;
      }
      await writeCgroupFile(dir, entry.file, entry.value);
      info.applied.push(entry.limit);
    }
    this.log.info({ key, ...info }, 'created cgroup');
    return info;
  }

  async place(key: string, pid: number): Promise<void> {
    assertCgroupKey(key);
    assertPid(pid);
    await placeOnce(join(await this.requireMount(), SLICE, key), pid);
  }

  /** Empty when the cgroup does not exist. */
  async pids(key: string): Promise<number[]> {
    assertCgroupKey(key);
    const mount = await this.mountPoint();
    return mount === undefined ? [] : readPids(join(mount, SLICE, key));
  }

  async cpuUsageUsec(key: string): Promise<number | undefined> {
    assertCgroupKey(key);
    const mount = await this.mountPoint();
    if (mount === undefined) return undefined;
    return usageUsec(await readOptional(join(mount, SLICE, key, 'cpu.stat')));
  }

  async oomKills(key: string): Promise<number> {
    assertCgroupKey(key);
    const mount = await this.mountPoint();
    if (mount === undefined) return 0;
    return counterIn(await readOptional(join(mount, SLICE, key, 'memory.events')), 'oom_kill');
  }

  async remove(key: string): Promise<void> {
    assertCgroupKey(key);
    const mount = await this.mountPoint();
    if (mount === undefined) return;
    await removeCgroupDir(join(mount, SLICE, key), {
      clock: this.clock,
      timeoutMs: this.options.removeTimeoutMs ?? 2_000,
      removeDir: this.removeDir,
    });
  }

  async list(): Promise<string[]> {
    const mount = await this.mountPoint();
    return mount === undefined ? [] : listKeys(join(mount, SLICE), isCgroupKey);
  }

  /**
   * Creates mvm.slice and turns on, for its children, the controllers we need that the
   * host delegates to cgroup2. Returns the ones the instance cgroups will have.
   */
  private async prepareSlice(mount: string): Promise<Controller[]> {
    const atRoot = await enableControllers(mount, await this.offered(), this.log);
    const slice = join(mount, SLICE);
    await makeCgroupDir(slice);
    return enableControllers(slice, atRoot, this.log);
  }

  private async requireMount(): Promise<string> {
    const mount = await this.mountPoint();
    if (mount !== undefined) return mount;
    throw new UnavailableError(
      'no cgroup2 filesystem is mounted on this host (none in /proc/self/mountinfo); mount one (e.g. at /sys/fs/cgroup) or run instances without cgroup limits',
    );
  }
}

/** `usage_usec` from the text of a cpu.stat file; undefined for an empty or odd file. */
export function usageUsec(cpuStat: string): number | undefined {
  const line = cpuStat.split('\n').find((l) => l.startsWith('usage_usec '));
  const value = Number(line?.slice('usage_usec '.length));
  return line === undefined || !Number.isFinite(value) ? undefined : value;
}
