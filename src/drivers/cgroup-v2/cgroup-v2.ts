import { mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError, UnavailableError } from '../../core/errors.ts';
import type { CgroupInfo, CgroupLimits, Cgroups } from '../../ports/cgroups.ts';
import type { Clock } from '../../ports/clock.ts';
import { systemClock } from '../clock/system-clock.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { AbortWait, waitUntil, WaitTimeoutError } from '../process/wait-until.ts';
import { readCgroup2Mount } from './cgroup2-mount.ts';
import { assertCgroupKey, assertLimits, assertPid, isCgroupKey } from './cgroup-inputs.ts';
import { enableControllers, readOptional, readPids, words } from './cgroup-files.ts';
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

const REMOVE_POLL_MS = 50;

/** Per-instance cgroups under `<cgroup2 mount>/mvm.slice/<key>`. */
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

  async create(key: string, limits: CgroupLimits): Promise<CgroupInfo> {
    assertCgroupKey(key);
    assertLimits(limits);
    const mount = await this.requireMount();
    const enabled = await this.prepareSlice(mount);
    const dir = join(mount, SLICE, key);
    await mkdir(dir, { recursive: true });
    const info: CgroupInfo = { dir, applied: [], unavailable: [] };
    for (const entry of limitFiles(limits)) {
      if (!enabled.includes(entry.controller)) {
        info.unavailable.push(entry.limit);
        continue;
      }
      await writeLimit(dir, entry.file, entry.value);
      info.applied.push(entry.limit);
    }
    this.log.info({ key, ...info }, 'created cgroup');
    return info;
  }

  async place(key: string, pid: number): Promise<void> {
    assertCgroupKey(key);
    assertPid(pid);
    const dir = join(await this.requireMount(), SLICE, key);
    try {
      await writeFile(join(dir, 'cgroup.procs'), `${pid}\n`);
    } catch (error) {
      throw placeError(dir, pid, error as NodeJS.ErrnoException);
    }
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

  async remove(key: string): Promise<void> {
    assertCgroupKey(key);
    const mount = await this.mountPoint();
    if (mount === undefined) return;
    const dir = join(mount, SLICE, key);
    // A VMM that was just killed leaves its cgroup a moment later: EBUSY until then.
    const removed = () =>
      this.tryRemove(dir).then(
        (done) => (done ? true : undefined),
        (error: unknown) => Promise.reject(new AbortWait(error)),
      );
    await waitUntil(removed, {
      clock: this.clock,
      timeoutMs: this.options.removeTimeoutMs ?? 2_000,
      intervalMs: REMOVE_POLL_MS,
      what: `cgroup ${dir} to empty`,
    }).catch(async (error: unknown) => {
      // Said better: which processes or child cgroups still hold it.
      throw error instanceof WaitTimeoutError ? await busyError(dir) : error;
    });
  }

  async list(): Promise<string[]> {
    const mount = await this.mountPoint();
    if (mount === undefined) return [];
    try {
      const entries = await readdir(join(mount, SLICE), { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && isCgroupKey(e.name)).map((e) => e.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /**
   * Creates mvm.slice and turns on, for its children, the controllers we need that the
   * host delegates to cgroup2. Returns the ones the instance cgroups will have.
   */
  private async prepareSlice(mount: string): Promise<Controller[]> {
    const offered = words(await readOptional(join(mount, 'cgroup.controllers')));
    const usable = wantedControllers.filter((c) => offered.includes(c));
    const atRoot = await enableControllers(mount, usable, this.log);
    const slice = join(mount, SLICE);
    await mkdir(slice, { recursive: true });
    return enableControllers(slice, atRoot, this.log);
  }

  /** True once the directory is gone; false while the kernel still says EBUSY. */
  private async tryRemove(dir: string): Promise<boolean> {
    try {
      await this.removeDir(dir);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code === 'EBUSY') return false;
      throw new HostError(`could not remove cgroup ${dir}: ${(error as Error).message}`, { dir });
    }
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

async function writeLimit(dir: string, file: string, value: string): Promise<void> {
  try {
    await writeFile(join(dir, file), value);
  } catch (error) {
    throw new HostError(
      `could not write '${value}' to ${join(dir, file)}: ${(error as Error).message}`,
      {
        dir,
        file,
        value,
      },
    );
  }
}

function placeError(dir: string, pid: number, error: NodeJS.ErrnoException): HostError {
  const hint =
    error.code === 'ENOENT'
      ? 'the cgroup does not exist; create it first'
      : error.code === 'ESRCH'
        ? 'the process no longer exists'
        : error.message;
  return new HostError(`could not move pid ${pid} into cgroup ${dir}: ${hint}`, { dir, pid });
}

async function busyError(dir: string): Promise<HostError> {
  const pids = await readPids(dir);
  if (pids.length > 0) {
    return new HostError(
      `cgroup ${dir} still holds processes ${pids.join(', ')}; stop them (the VMM) and remove again`,
      { dir, pids },
    );
  }
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const names = children.filter((e) => e.isDirectory()).map((e) => e.name);
  const what = names.length > 0 ? `child cgroups ${names.join(', ')}` : 'no processes listed';
  return new HostError(`cgroup ${dir} stayed busy (${what}); try again shortly`, { dir });
}
