import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../core/errors.ts';
import type { ProcessId } from '../../core/fence-watch.ts';
import type { Cgroups } from '../../ports/cgroups.ts';
import type { Logger } from '../../ports/logger.ts';

/** Watchdogs' cgroups: one per data dir, left out of the orphan reaper (orphans.ts). */
export const FENCE_CGROUP_PREFIX = 'mvm-fence-';
export const fenceCgroupKey = (dataDir: string): string =>
  `${FENCE_CGROUP_PREFIX}${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`;

/** A Node process with its modules, SQLite and a QMP socket: bounded, never a VMM's share. */
const WATCHDOG_LIMITS = { vcpus: 1, memMib: 256, pids: 64 };

export interface WatchdogStart {
  dataDir: string;
  agent: ProcessId;
  cgroups?: Cgroups;
  logger: Logger;
}

/**
 * Starts the agent's fence watchdog (fence-watchdog.ts), detached, and moves it out of the
 * agent's cgroup into its own, as the VMMs are: a service manager ending the agent's group
 * after a crash must not end the watchdog too. Returns its pid; a watchdog that cannot start
 * is said at error level (the agent runs on, fencing itself while it lives).
 */
export async function startFenceWatchdog(start: WatchdogStart): Promise<number | undefined> {
  const here = import.meta.url;
  const fromSource = extname(fileURLToPath(here)) === '.ts';
  const entry = fileURLToPath(new URL(`./fence-watchdog-main.${fromSource ? 'ts' : 'js'}`, here));
  const loader = fromSource ? ['--import', import.meta.resolve('tsx')] : [];
  const args = [
    ...loader,
    entry,
    start.dataDir,
    String(start.agent.pid),
    String(start.agent.startTime),
  ];
  try {
    const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore' });
    const pid = await new Promise<number>((done, fail) => {
      child.once('spawn', () => done(child.pid ?? 0));
      child.once('error', fail);
    });
    child.unref();
    await placeWatchdog(start, pid);
    start.logger.info({ pid }, 'fence watchdog started');
    return pid;
  } catch (error) {
    start.logger.error(
      { error: errorMessage(error) },
      'fence watchdog not started: if this agent dies, its VMMs run on unfenced',
    );
    return undefined;
  }
}

async function placeWatchdog(start: WatchdogStart, pid: number): Promise<void> {
  if (!start.cgroups) return;
  const key = fenceCgroupKey(start.dataDir);
  try {
    await start.cgroups.create(key, WATCHDOG_LIMITS);
    await start.cgroups.place(key, pid);
  } catch (error) {
    start.logger.warn(
      { pid, error: errorMessage(error) },
      "fence watchdog left in the agent's cgroup: a service manager stopping the agent stops it too",
    );
  }
}
