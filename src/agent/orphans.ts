import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { MVM_PREFIX } from './runtime/vm-key.ts';
import type { RuntimeDeps } from './runtime/deps.ts';

export interface OrphanReport {
  processes: number[];
  cgroups: string[];
  dirs: string[];
}

/**
 * Removes what no record owns: VMM processes running out of our vms dir, mvm cgroups and
 * instance dirs. Processes first (a cgroup or dir still in use cannot go cleanly).
 */
export async function reapOrphans(
  deps: RuntimeDeps,
  owned: ReadonlySet<string>,
  livePids: ReadonlySet<number>,
): Promise<OrphanReport> {
  const processes = await orphanVmmPids(deps.layout.vmsDir, livePids);
  await Promise.all(processes.map((pid) => terminate(pid)));
  const cgroups = await reapCgroups(deps, owned);
  const names = await readdir(deps.layout.vmsDir).catch(() => [] as string[]);
  const dirs = names.filter((name) => name.startsWith(MVM_PREFIX) && !owned.has(name));
  for (const name of dirs)
    await rm(join(deps.layout.vmsDir, name), { recursive: true, force: true });
  if (processes.length + cgroups.length + dirs.length > 0) {
    deps.logger.warn({ processes, cgroups, dirs }, 'removed orphans');
  }
  return { processes, cgroups, dirs };
}

/**
 * mvm cgroups no record owns. One that still holds processes after our own orphan VMMs were
 * stopped belongs to someone else (another agent's data dir on this host): leave it alone.
 */
async function reapCgroups(deps: RuntimeDeps, owned: ReadonlySet<string>): Promise<string[]> {
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

/** VMM processes (qemu/firecracker) whose command line points into our vms dir. */
async function orphanVmmPids(vmsDir: string, livePids: ReadonlySet<number>): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const found: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || livePids.has(pid)) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const exe = argv[0] ?? '';
    if (!/qemu-system|firecracker|jailer/.test(exe)) continue;
    if (argv.some((a) => a.includes(`${vmsDir}/`))) found.push(pid);
  }
  return found;
}

async function terminate(pid: number): Promise<void> {
  send(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await delay(20);
  if (alive(pid)) send(pid, 'SIGKILL');
}

function send(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
