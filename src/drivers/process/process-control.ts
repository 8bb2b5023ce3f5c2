/**
 * Pid handling for every driver and the agent, in one place (flintlock's shared pid.go): a
 * liveness test that sees zombies and pid reuse, a process's identity (start time), and
 * SIGTERM-then-SIGKILL termination with deadlines on the injected Clock.
 */
import { readdir, readFile } from 'node:fs/promises';
import { HostError } from '../../core/errors.ts';
import type { Clock } from '../../ports/clock.ts';
import { waitUntil, WaitTimeoutError } from './wait-until.ts';

const EXIT_POLL_MS = 20;
/** Exited but not reaped (Z), or being torn down (X): neither runs anything any more. */
const DEAD_STATES = new Set(['Z', 'X', 'x']);

export interface ProcStat {
  /** Field 3: R, S, D, Z, T, ... */
  state: string;
  /** Field 4. */
  ppid: number;
  /** Field 22: clock ticks after boot; with the pid, it names one process for good. */
  startTime: number;
}

/** What kill(pid, 0) tells: ours to signal, there but another user's (EPERM), or gone. */
export type KillProbe = 'ours' | 'not-ours' | 'gone';

/** Parses /proc/<pid>/stat. The command name is in parentheses and may hold spaces or ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // fields[0] is field 3 of proc(5), so field N is fields[N - 3].
  const fields = text.slice(close + 2).split(' ');
  const state = fields[0];
  const ppid = Number(fields[1]);
  const startTime = Number(fields[19]);
  if (!state || !Number.isInteger(ppid) || !Number.isInteger(startTime)) return undefined;
  return { state, ppid, startTime };
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  if (!isPid(pid)) return undefined;
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseProcStat(text);
}

/** The start time to record with a pid, so a later check can tell a reused pid apart. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  return (await readProcStat(pid))?.startTime;
}

/** Classifies the outcome of kill(pid, 0): no error, or its errno. */
export function classifyKillProbe(error: unknown): KillProbe {
  if (error === undefined) return 'ours';
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EPERM') return 'not-ours';
  if (code === 'ESRCH') return 'gone';
  throw error;
}

export function probeProcess(pid: number): KillProbe {
  if (!isPid(pid)) return 'gone';
  try {
    process.kill(pid, 0);
    return 'ours';
  } catch (error) {
    return classifyKillProbe(error);
  }
}

/**
 * Running (not a zombie) and, when `startTime` is given, the same process that was recorded
 * rather than a later one that got its pid.
 */
export async function isAlive(pid: number, startTime?: number): Promise<boolean> {
  const probe = probeProcess(pid);
  if (probe === 'gone') return false;
  const stat = await readProcStat(pid);
  // Another user's process may hide its /proc entry (hidepid): it exists, that is all we know.
  if (stat === undefined) return probe === 'not-ours';
  if (startTime !== undefined && stat.startTime !== startTime) return false;
  if (!DEAD_STATES.has(stat.state)) return true;
  // A leader that exited before its other threads shows Z while they still run and hold its
  // files (a tap, a drive): it is dead only when every thread of the group is.
  return await anyThreadRunning(pid);
}

async function anyThreadRunning(pid: number): Promise<boolean> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of tids.map(Number).filter((t) => isPid(t) && t !== pid)) {
    const text = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    const stat = text === undefined ? undefined : parseProcStat(text);
    if (stat !== undefined && !DEAD_STATES.has(stat.state)) return true;
  }
  return false;
}

/** The process's argv, empty when it is gone or unreadable. */
export async function commandLine(pid: number): Promise<string[]> {
  if (!isPid(pid)) return [];
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return raw.split('\0').filter((part) => part !== '');
}

/** Every pid in /proc, for scans such as the orphan reaper's. */
export async function listPids(): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  return entries.map(Number).filter(isPid);
}

/** A pid file's number, or undefined when it is missing or holds no valid pid. */
export async function readPidFile(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const pid = text === undefined ? NaN : Number(text.trim());
  return isPid(pid) ? pid : undefined;
}

/**
 * Sends `signal`; false if the process was already gone. A pid we may not signal is an error:
 * silently "succeeding" would leave a VMM running that the caller believes stopped.
 */
export function sendSignal(pid: number, signal: NodeJS.Signals): boolean {
  // kill(0) and kill(-1) reach a whole process group or every process: never from a bad pid.
  if (!isPid(pid)) throw new HostError(`refusing to signal invalid pid ${pid}`, { pid });
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if (classifyKillProbe(error) === 'gone') return false;
    throw new HostError(
      `not permitted to send ${signal} to pid ${pid} (another user's process); stop it as its owner or as root`,
      { pid, signal },
    );
  }
}

export interface ExitWait {
  clock: Clock;
  timeoutMs: number;
  /** As recorded at launch: a process that reused the pid does not count as ours. */
  startTime?: number;
}

/** True once the process is gone (or a zombie, or replaced); false at the deadline. */
export async function waitForExit(pid: number, options: ExitWait): Promise<boolean> {
  const gone = async () => ((await isAlive(pid, options.startTime)) ? undefined : true);
  return waitUntil(gone, {
    clock: options.clock,
    timeoutMs: options.timeoutMs,
    intervalMs: EXIT_POLL_MS,
    what: `pid ${pid} to exit`,
  }).catch((error: unknown) => {
    if (error instanceof WaitTimeoutError) return false;
    throw error;
  });
}

export interface TerminateOptions {
  clock: Clock;
  /** How long SIGTERM gets before SIGKILL. */
  termTimeoutMs: number;
  /** How long SIGKILL gets to take effect. */
  killTimeoutMs: number;
  startTime?: number;
  /** Called before SIGKILL, to log that the process ignored SIGTERM. */
  onSigkill?: () => void;
}

/**
 * SIGTERM, wait, SIGKILL, wait. True once the process is gone; false only if it survived
 * SIGKILL (uninterruptible sleep). The start time check before signalling narrows, but
 * cannot close, the window in which a reused pid would be signalled.
 */
export async function terminate(pid: number, options: TerminateOptions): Promise<boolean> {
  const { clock, startTime } = options;
  if (!(await isAlive(pid, startTime))) return true;
  if (!sendSignal(pid, 'SIGTERM')) return true;
  if (await waitForExit(pid, { clock, startTime, timeoutMs: options.termTimeoutMs })) return true;
  options.onSigkill?.();
  if (!sendSignal(pid, 'SIGKILL')) return true;
  return waitForExit(pid, { clock, startTime, timeoutMs: options.killTimeoutMs });
}

function isPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0;
}
