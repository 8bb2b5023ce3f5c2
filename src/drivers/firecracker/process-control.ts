import { readFile } from 'node:fs/promises';
import type { Clock } from '../../ports/clock.ts';

const EXIT_POLL_MS = 20;

/** Alive means running and not a zombie: a zombie has exited, it just was not reaped yet. */
export async function isProcessAlive(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  // The state letter follows the parenthesised command name, which may itself hold spaces.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** The process's command line, to tell our VMM apart from an unrelated process reusing its pid. */
export async function processCommandLine(pid: number): Promise<string[]> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return raw.split('\0').filter((part) => part !== '');
}

/** Alive, and really a Firecracker: after a host reboot the pid may belong to anything. */
export async function isFirecrackerProcess(pid: number): Promise<boolean> {
  if (!(await isProcessAlive(pid))) return false;
  return (await processCommandLine(pid)).some((arg) => arg.includes('firecracker'));
}

export async function waitForExit(pid: number, timeoutMs: number, clock: Clock): Promise<boolean> {
  const deadline = clock.now().getTime() + timeoutMs;
  for (;;) {
    if (!(await isProcessAlive(pid))) return true;
    if (clock.now().getTime() >= deadline) return false;
    await clock.sleep(EXIT_POLL_MS);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    // Already gone is what we wanted.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export interface TerminateOptions {
  clock: Clock;
  termTimeoutMs: number;
  killTimeoutMs: number;
}

/** SIGTERM, then SIGKILL after a deadline. Returns false only if even SIGKILL did not work. */
export async function terminate(pid: number, options: TerminateOptions): Promise<boolean> {
  if (!(await isProcessAlive(pid))) return true;
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, options.termTimeoutMs, options.clock)) return true;
  signal(pid, 'SIGKILL');
  return waitForExit(pid, options.killTimeoutMs, options.clock);
}

/** Jailer 1.7+ forks before exec and writes the Firecracker pid into the chroot. */
export async function pidFromJail(jailRoot: string, execName: string): Promise<number | undefined> {
  const text = await readFile(`${jailRoot}/${execName}.pid`, 'utf8').catch(() => undefined);
  const pid = text === undefined ? NaN : Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
