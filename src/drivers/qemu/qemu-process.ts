/** Facts about a QEMU process found by pid, which may not be our child (after adopt). */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Alive and not a zombie waiting to be reaped. */
export async function pidAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Field 3 (after the parenthesised command name) is the state; Z and X are dead.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== '' && state !== 'Z' && state !== 'X';
}

/**
 * Pids get reused: before signalling a pid from a stored handle, check that it is the QEMU
 * that owns this VM's QMP socket.
 */
export async function isQemuFor(pid: number, qmpSocket: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(qmpSocket);
}

/** Polls until the pid is gone; true if it went within the deadline. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await pidAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone: that is what we wanted.
  }
}

/** The last lines of a log file, for error messages. */
/**
 * The last lines QEMU itself wrote. The `--- <time> <command line>` header each launch appends
 * is left out: it is in the log file, and it would bury QEMU's one-line reason in messages.
 */
export async function logTail(path: string, lines = 5): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const said = text
    .trim()
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('--- '));
  return `${said.slice(-lines).join(' | ') || '(no output)'} (log: ${path})`;
}
