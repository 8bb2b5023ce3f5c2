import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  commandLine,
  listPids,
  processStartTime,
  terminate,
} from '../drivers/process/process-control.ts';
import { FENCE_CGROUP_PREFIX } from './lease/start-fence-watchdog.ts';
import { orphanJails, processesInJails, removeJail } from './orphan-jails.ts';
import { MVM_PREFIX } from './runtime/vm-key.ts';
import type { RuntimeDeps } from './runtime/deps.ts';

/** What SIGTERM gets before SIGKILL, and SIGKILL before we move on. */
const ORPHAN_TERM_MS = 2_000;
const ORPHAN_KILL_MS = 2_000;

/** Only what the reaper acts through; without a runner, a jail's bind mounts stay (logged). */
export type OrphanDeps = Pick<RuntimeDeps, 'layout' | 'cgroups' | 'logger' | 'clock'> &
  Partial<Pick<RuntimeDeps, 'runner'>>;

export interface OrphanReport {
  processes: number[];
  cgroups: string[];
  dirs: string[];
}

/** A VMM process found in /proc, named by pid and start time so a reused pid is never signalled. */
export interface VmmProcess {
  pid: number;
  startTime: number;
  argv: string[];
  /** The instance dir its command line points into, when it points into ours. */
  key?: string;
}

/** What the reaper (at start) or `mvm node gc` (under the instances' locks) would remove. */
export interface OrphanPlan {
  processes: VmmProcess[];
  /** mvm cgroups no record owns, with the pids still in each. */
  cgroups: Array<{ key: string; pids: number[] }>;
  /** Instance dirs, secrets drive dirs and jails (names below any) no record owns. */
  dirs: string[];
}

/**
 * Removes what no record owns: VMM processes running out of our vms dir or in a Firecracker
 * jail of ours, mvm cgroups, instance dirs, secrets drive dirs and jails (reported once per
 * instance in `dirs`). Processes first (a cgroup or dir still in use cannot go cleanly). Run
 * at start, before anything else acts on the instances.
 */
export async function reapOrphans(
  deps: OrphanDeps,
  owned: ReadonlySet<string>,
  livePids: ReadonlySet<number>,
): Promise<OrphanReport> {
  const plan = await findOrphans(deps, owned, livePids);
  const report: OrphanReport = { processes: [], cgroups: [], dirs: [] };
  for (const orphan of plan.processes) {
    await stopOrphan(deps, orphan);
    report.processes.push(orphan.pid);
  }
  for (const { key } of plan.cgroups)
    if (await removeOrphanCgroup(deps, key)) report.cgroups.push(key);
  for (const name of plan.dirs) {
    await removeOrphanDir(deps, name);
    report.dirs.push(name);
  }
  if (report.processes.length + report.cgroups.length + report.dirs.length > 0) {
    deps.logger.warn({ ...report }, 'removed orphans');
  }
  return report;
}

/** Everything with the mvm prefix no record owns; nothing is touched. */
export async function findOrphans(
  deps: OrphanDeps,
  owned: ReadonlySet<string>,
  livePids: ReadonlySet<number>,
): Promise<OrphanPlan> {
  const jails = await orphanJails(deps.layout.jailsDir, owned);
  const processes = [
    ...(await vmmProcesses(deps.layout.vmsDir)).filter(
      (p) => p.key !== undefined && !livePids.has(p.pid),
    ),
    ...(await processesInJails(jails, livePids)),
  ];
  const cgroups: OrphanPlan['cgroups'] = [];
  for (const key of (await deps.cgroups?.list()) ?? []) {
    if (owned.has(key) || key.startsWith(FENCE_CGROUP_PREFIX)) continue;
    cgroups.push({ key, pids: (await deps.cgroups?.pids(key).catch(() => [])) ?? [] });
  }
  const dirs = new Set<string>();
  for (const parent of [deps.layout.vmsDir, deps.layout.secretsDir]) {
    const names = await readdir(parent).catch(() => [] as string[]);
    for (const name of names) if (name.startsWith(MVM_PREFIX) && !owned.has(name)) dirs.add(name);
  }
  for (const jail of jails) dirs.add(jail.key);
  return { processes, cgroups, dirs: [...dirs] };
}

/**
 * VMM processes (qemu/firecracker/jailer) on this host, each with the instance dir of ours
 * its command line points into, if any (another data dir's VMMs have none).
 */
export async function vmmProcesses(vmsDir: string): Promise<VmmProcess[]> {
  const found: VmmProcess[] = [];
  const inside = new RegExp(`${escapeRegExp(vmsDir)}/(${MVM_PREFIX}[^/]+)/`);
  for (const pid of await listPids()) {
    if (pid === process.pid) continue;
    const argv = await commandLine(pid);
    if (!/qemu-system|firecracker|jailer/.test(argv[0] ?? '')) continue;
    const startTime = await processStartTime(pid);
    if (startTime === undefined) continue;
    const key = argv.map((a) => inside.exec(a)?.[1]).find((k) => k !== undefined);
    found.push({ pid, startTime, argv, ...(key !== undefined ? { key } : {}) });
  }
  return found;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** An orphan that survives SIGKILL is reported; its cgroup then stays (it is still in use). */
export async function stopOrphan(deps: OrphanDeps, orphan: VmmProcess): Promise<void> {
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

/**
 * An mvm cgroup no record owns. One that still holds processes after our own orphan VMMs were
 * stopped belongs to someone else (another agent's data dir on this host): left alone (false).
 */
export async function removeOrphanCgroup(deps: OrphanDeps, key: string): Promise<boolean> {
  const { cgroups } = deps;
  if (!cgroups) return false;
  const pids = await cgroups.pids(key).catch(() => [] as number[]);
  if (pids.length > 0) {
    deps.logger.warn({ cgroup: key, pids }, 'unowned mvm cgroup still in use; left alone');
    return false;
  }
  try {
    await cgroups.remove(key);
    return true;
  } catch (error) {
    deps.logger.warn({ cgroup: key, err: error }, 'could not remove an orphan cgroup');
    return false;
  }
}

/** An instance's dir, its secrets drive dir (outside the data dir) and jail, whichever exist. */
export async function removeOrphanDir(deps: OrphanDeps, name: string): Promise<void> {
  for (const parent of [deps.layout.vmsDir, deps.layout.secretsDir]) {
    await rm(join(parent, name), { recursive: true, force: true });
  }
  await removeJail(deps, name);
}
