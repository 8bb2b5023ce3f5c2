import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  commandLine,
  listPids,
  processStartTime,
  terminate,
} from '../drivers/process/process-control.ts';
import { MVM_PREFIX } from './runtime/vm-key.ts';
import type { RuntimeDeps } from './runtime/deps.ts';

/** What SIGTERM gets before SIGKILL, and SIGKILL before we move on. */
const ORPHAN_TERM_MS = 2_000;
const ORPHAN_KILL_MS = 2_000;

/** Only what the reaper acts through. */
export type OrphanDeps = Pick<RuntimeDeps, 'layout' | 'cgroups' | 'logger' | 'clock'>;

export interface OrphanReport {
  processes: number[];
  cgroups: string[];
  dirs: string[];
}

/**
 * Removes what no record owns: VMM processes running out of our vms dir, mvm cgroups,
 * instance dirs and secrets drive dirs (reported once per instance in `dirs`). Processes
 * first (a cgroup or dir still in use cannot go cleanly).
 */
export async function reapOrphans(
  deps: OrphanDeps,
  owned: ReadonlySet<string>,
  livePids: ReadonlySet<number>,
): Promise<OrphanReport> {
  const orphans = await orphanVmms(deps.layout.vmsDir, livePids);
  await Promise.all(orphans.map((orphan) => stopOrphan(deps, orphan)));
  const processes = orphans.map((orphan) => orphan.pid);
  const cgroups = await reapCgroups(deps, owned);
  const dirs: string[] = [];
  for (const parent of [deps.layout.vmsDir, deps.layout.secretsDir]) {
    const names = await readdir(parent).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.startsWith(MVM_PREFIX) && !owned.has(n))) {
      await rm(join(parent, name), { recursive: true, force: true });
      if (!dirs.includes(name)) dirs.push(name);
    }
  }
  if (processes.length + cgroups.length + dirs.length > 0) {
    deps.logger.warn({ processes, cgroups, dirs }, 'removed orphans');
  }
  return { processes, cgroups, dirs };
}

/**
 * mvm cgroups no record owns. One that still holds processes after our own orphan VMMs were
 * stopped belongs to someone else (another agent's data dir on this host): leave it alone.
 */
async function reapCgroups(deps: OrphanDeps, owned: ReadonlySet<string>): Promise<string[]> {
  const { cgroups } = deps;
  if (!cgroups) return [];
  const removed: string[] = [];
  for (const key of (await cgroups.list()).filter((k) => !owned.has(k))) {
    const pids = await cgroups.pids(key).catch(() => [] as number[]);
    if (pids.length > 0) {
      deps.logger.warn({ cgroup: key, pids }, 'unowned mvm cgroup still in use; left alone');
      continue;
    }
    try {
      await cgroups.remove(key);
      removed.push(key);
    } catch (error) {
      deps.logger.warn({ cgroup: key, err: error }, 'could not remove an orphan cgroup');
    }
  }
  return removed;
}

/** A process found in /proc, named by pid and start time so a reused pid is never signalled. */
interface FoundProcess {
  pid: number;
  startTime: number;
}

/** VMM processes (qemu/firecracker) whose command line points into our vms dir. */
async function orphanVmms(vmsDir: string, livePids: ReadonlySet<number>): Promise<FoundProcess[]> {
  const found: FoundProcess[] = [];
  for (const pid of await listPids()) {
    if (pid === process.pid || livePids.has(pid)) continue;
    const argv = await commandLine(pid);
    if (!/qemu-system|firecracker|jailer/.test(argv[0] ?? '')) continue;
    if (!argv.some((a) => a.includes(`${vmsDir}/`))) continue;
    const startTime = await processStartTime(pid);
    if (startTime !== undefined) found.push({ pid, startTime });
  }
  return found;
}

/** An orphan that survives SIGKILL is reported; its cgroup then stays (it is still in use). */
async function stopOrphan(deps: OrphanDeps, orphan: FoundProcess): Promise<void> {
  const gone = await terminate(orphan.pid, {
    clock: deps.clock,
    termTimeoutMs: ORPHAN_TERM_MS,
    killTimeoutMs: ORPHAN_KILL_MS,
    startTime: orphan.startTime,
  }).catch((error: unknown) => {
    deps.logger.warn({ pid: orphan.pid, err: error }, 'could not stop an orphan VMM');
    return true;
  });
  if (!gone) deps.logger.warn({ pid: orphan.pid }, 'orphan VMM survived SIGKILL');
}
