import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import { AbortWait, waitUntil, WaitTimeoutError } from '../process/wait-until.ts';
import type { Controller } from './limit-files.ts';

/**
 * Contents of a cgroup file, or '' when it is not there (a cgroup that is already gone).
 * Synchronous, as every read, limit write and mkdir of this module: see readPids.
 */
export async function readOptional(path: string): Promise<string> {
  return Promise.resolve(readOptionalNow(path));
}

export const words = (text: string): string[] => text.split(/\s+/).filter((w) => w !== '');

/**
 * Files of cgroupfs live in kernel memory: a read or a limit write takes microseconds and
 * never waits on a disk. Done synchronously, as the few calls on a wake's path are: each
 * asynchronous call costs a thread-pool hop and an event-loop turn, which on a loaded host is
 * a wait for a CPU (a cgroup's create took 8 ms as 12 awaited calls there, 0.1 ms in
 * place; docs/wake-overhead.md). cgroup.procs writes stay asynchronous (placeOnce): they take
 * the kernel's threadgroup lock and may wait for it.
 */
export async function readPids(dir: string): Promise<number[]> {
  return words(await readOptional(join(dir, 'cgroup.procs'))).map(Number);
}

function readOptionalNow(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/** A cgroup directory (and its parents), synchronously: see readPids. */
export async function makeCgroupDir(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  return Promise.resolve();
}

/**
 * Enables `wanted` for the children of `dir`, one controller per write: the kernel rejects a
 * whole multi-controller write when any one of them fails. Returns what is enabled afterwards.
 */
export async function enableControllers(
  dir: string,
  wanted: readonly Controller[],
  log: Logger,
): Promise<Controller[]> {
  const file = join(dir, 'cgroup.subtree_control');
  const active = words(await readOptional(file));
  const enabled: Controller[] = [];
  for (const controller of wanted) {
    if (active.includes(controller)) {
      enabled.push(controller);
      continue;
    }
    try {
      writeFileSync(file, `+${controller}`);
      enabled.push(controller);
    } catch (error) {
      // e.g. EBUSY when `dir` holds processes itself: the limit is reported as unavailable.
      log.warn(
        { dir, controller, error: (error as Error).message },
        'could not enable cgroup controller; its limit will not be applied',
      );
    }
  }
  return enabled;
}

/** A counter line (`oom_kill 3`) of memory.events (v2) or memory.oom_control (v1); 0 if absent. */
export function counterIn(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  const value = Number(line?.slice(name.length + 1));
  return Number.isFinite(value) ? value : 0;
}

/** One limit, synchronously (see readPids). */
export async function writeCgroupFile(dir: string, file: string, value: string): Promise<void> {
  try {
    writeFileSync(join(dir, file), value);
  } catch (error) {
    throw new HostError(
      `could not write '${value}' to ${join(dir, file)}: ${(error as Error).message}`,
      { dir, file, value },
    );
  }
}

/**
 * Moves `pid` into the cgroup at `dir`, unless cgroup.procs already lists it. A VMM joins its
 * cgroups before it runs (join-cgroups.ts), so placing it again is usually a no-op, but every
 * write to cgroup.procs takes the kernel's cgroup threadgroup lock for writing, even when the
 * process moves nowhere: it waits for threads being created or ending (a restoring QEMU starts
 * many) and, on many kernels, for an RCU grace period. 0.3 ms for four hierarchies on an idle
 * host; 11-17 ms per wake on the loaded development host (docs/wake-overhead.md).
 */
export async function placeOnce(dir: string, pid: number): Promise<void> {
  if ((await readPids(dir)).includes(pid)) return;
  try {
    await writeFile(join(dir, 'cgroup.procs'), `${pid}\n`);
  } catch (error) {
    throw placeError(dir, pid, error as NodeJS.ErrnoException);
  }
}

export function placeError(dir: string, pid: number, error: NodeJS.ErrnoException): HostError {
  const hint =
    error.code === 'ENOENT'
      ? 'the cgroup does not exist; create it first'
      : error.code === 'ESRCH'
        ? 'the process no longer exists'
        : error.message;
  return new HostError(`could not move pid ${pid} into cgroup ${dir}: ${hint}`, { dir, pid });
}

export interface RemoveWait {
  clock: Clock;
  timeoutMs: number;
  /** rmdir(2) on cgroupfs; tests substitute one with the kernel's EBUSY semantics. */
  removeDir: (path: string) => Promise<void>;
}

const REMOVE_POLL_MS = 50;

/** Removes a cgroup directory; a VMM that was just killed leaves it a moment later (EBUSY). */
export async function removeCgroupDir(dir: string, wait: RemoveWait): Promise<void> {
  const removed = () =>
    tryRemove(dir, wait.removeDir).then(
      (done) => (done ? true : undefined),
      (error: unknown) => Promise.reject(new AbortWait(error)),
    );
  await waitUntil(removed, {
    clock: wait.clock,
    timeoutMs: wait.timeoutMs,
    intervalMs: REMOVE_POLL_MS,
    what: `cgroup ${dir} to empty`,
  }).catch(async (error: unknown) => {
    // Said better: which processes or child cgroups still hold it.
    throw error instanceof WaitTimeoutError ? await busyError(dir) : error;
  });
}

/** True once the directory is gone; false while the kernel still says EBUSY. */
async function tryRemove(
  dir: string,
  removeDir: (path: string) => Promise<void>,
): Promise<boolean> {
  try {
    await removeDir(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'EBUSY') return false;
    throw new HostError(`could not remove cgroup ${dir}: ${(error as Error).message}`, { dir });
  }
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

/** Keys (mvm-...) of the instance cgroups under `<mount>/<slice>`; [] when there is none. */
export async function listKeys(
  sliceDir: string,
  isKey: (name: string) => boolean,
): Promise<string[]> {
  try {
    const entries = await readdir(sliceDir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && isKey(e.name)).map((e) => e.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
