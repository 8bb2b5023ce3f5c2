/**
 * Contract of the one pid module, against real processes: a running child, a real zombie, a
 * process that ignores SIGTERM, another user's process (EPERM, probed as that user), and a
 * pid the kernel really hands to a new process (inside a private pid namespace).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostError } from '../../../src/core/errors.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import {
  classifyKillProbe,
  commandLine,
  isAlive,
  parseProcStat,
  probeProcess,
  processStartTime,
  readPidFile,
  readProcStat,
  sendSignal,
  terminate,
  waitForExit,
} from '../../../src/drivers/process/process-control.ts';
import { waitUntil } from '../../../src/drivers/process/wait-until.ts';
import type { Clock } from '../../../src/ports/clock.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const TSX_LOADER = `file://${join(ROOT, 'node_modules/tsx/dist/loader.mjs')}`;
const SUPPORT = join(import.meta.dirname, 'support');
const runner = new NodeProcessRunner();
const isRoot = process.getuid?.() === 0;
const hasTool = (path: string) => existsSync(path);

const children: ChildProcess[] = [];

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  return child;
}

function pidOf(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error('spawn failed');
  return child.pid;
}

const firstLine = (child: ChildProcess): Promise<string> =>
  new Promise((done) => child.stdout?.once('data', (chunk: Buffer) => done(String(chunk).trim())));

/** Time that passes only when the code under test sleeps on it. */
function steppingClock(): Clock & { elapsedMs: () => number } {
  let ms = 0;
  return {
    now: () => new Date(ms),
    sleep: async (step) => {
      ms += step;
      await new Promise((tick) => setImmediate(tick));
    },
    elapsedMs: () => ms,
  };
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe('reading /proc/<pid>/stat', () => {
  it('finds state, parent and start time after a command name with spaces and parentheses', () => {
    const rest = Array.from({ length: 49 }, (_, i) => String(i + 4)).join(' ');
    const text = `4242 (we (ird) name) S ${rest}\n`;
    expect(parseProcStat(text)).toEqual({ state: 'S', ppid: 4, startTime: 22 });
    expect(parseProcStat('garbage')).toBeUndefined();
    expect(parseProcStat('1 (x) S')).toBeUndefined();
  });

  it("reads this process's own entry", async () => {
    const stat = await readProcStat(process.pid);
    expect(stat?.state).toMatch(/[RS]/);
    expect(stat?.ppid).toBe(process.ppid);
    expect(await processStartTime(process.pid)).toBe(stat?.startTime);
  });
});

describe('what kill(pid, 0) tells', () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });

  it('classifies success, EPERM and ESRCH; anything else is not swallowed', () => {
    expect(classifyKillProbe(undefined)).toBe('ours');
    expect(classifyKillProbe(errno('EPERM'))).toBe('not-ours');
    expect(classifyKillProbe(errno('ESRCH'))).toBe('gone');
    expect(() => classifyKillProbe(errno('EINVAL'))).toThrow('EINVAL');
  });

  it('never treats 0, negative or fractional pids as processes, and never signals them', async () => {
    for (const pid of [0, -1, 1.5, Number.NaN]) {
      expect(probeProcess(pid)).toBe('gone');
      expect(await isAlive(pid)).toBe(false);
      expect(() => sendSignal(pid, 'SIGTERM')).toThrow(HostError);
      expect(await terminate(pid, { clock: systemClock, termTimeoutMs: 1, killTimeoutMs: 1 })).toBe(
        true,
      );
    }
  });
});

describe('a running child', () => {
  it('is alive as recorded; a different start time means another process', async () => {
    const pid = pidOf(start('sleep', ['30']));
    const startTime = await processStartTime(pid);
    expect(startTime).toBeGreaterThan(0);
    expect(probeProcess(pid)).toBe('ours');
    expect(await isAlive(pid)).toBe(true);
    expect(await isAlive(pid, startTime)).toBe(true);
    expect(await isAlive(pid, (startTime ?? 0) - 1)).toBe(false);
    expect(await commandLine(pid)).toEqual(['sleep', '30']);
  });

  it('stops on SIGTERM without SIGKILL, and is then gone', async () => {
    const child = start('sleep', ['30']);
    const reaped = new Promise((done) => child.once('exit', done));
    const pid = pidOf(child);
    let killed = false;
    const started = Date.now();
    const gone = await terminate(pid, {
      clock: systemClock,
      termTimeoutMs: 5_000,
      killTimeoutMs: 5_000,
      onSigkill: () => (killed = true),
    });
    expect(gone).toBe(true);
    expect(killed).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await isAlive(pid)).toBe(false);
    await reaped;
    expect(sendSignal(pid, 'SIGTERM')).toBe(false);
  });

  it('waits for exit on the injected clock, not the wall clock', async () => {
    const pid = pidOf(start('sleep', ['30']));
    const clock = steppingClock();
    const started = Date.now();
    expect(await waitForExit(pid, { clock, timeoutMs: 10_000 })).toBe(false);
    expect(clock.elapsedMs()).toBeGreaterThanOrEqual(10_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await isAlive(pid)).toBe(true);
  });
});

describe('a process that ignores SIGTERM', () => {
  it('gets SIGKILL once the SIGTERM deadline passes on the clock', async () => {
    const child = start('sh', ['-c', 'trap "" TERM; exec sleep 30']);
    const pid = pidOf(child);
    // The trap is set once sh has exec'd sleep (which inherits the ignored SIGTERM).
    await waitUntil(async () => ((await commandLine(pid))[0] === 'sleep' ? true : undefined), {
      clock: systemClock,
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'sh to exec sleep',
    });
    let survivedTerm = false;
    const started = Date.now();
    const gone = await terminate(pid, {
      clock: systemClock,
      termTimeoutMs: 300,
      killTimeoutMs: 5_000,
      onSigkill: () => (survivedTerm = probeProcess(pid) !== 'gone'),
    });
    expect(gone).toBe(true);
    expect(survivedTerm).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await isAlive(pid)).toBe(false);
  });
});

describe('a zombie (exited, parent alive and not reaping)', () => {
  it('answers kill(pid, 0) but is not alive, needs no waiting and no signal', async () => {
    // sh starts a short sleep, prints its pid and becomes `sleep 30`, which never reaps it.
    const parent = start('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30']);
    const zombie = Number(await firstLine(parent));
    await waitUntil(async () => ((await readProcStat(zombie))?.state === 'Z' ? true : undefined), {
      clock: systemClock,
      timeoutMs: 5_000,
      intervalMs: 20,
      what: `pid ${zombie} to become a zombie`,
    });
    expect((await readProcStat(zombie))?.ppid).toBe(parent.pid);
    expect(await isAlive(pidOf(parent))).toBe(true);
    expect(probeProcess(zombie)).toBe('ours');
    expect(await isAlive(zombie)).toBe(false);
    expect(await isAlive(zombie, await processStartTime(zombie))).toBe(false);
    expect(await waitForExit(zombie, { clock: steppingClock(), timeoutMs: 0 })).toBe(true);
    let killed = false;
    const gone = await terminate(zombie, {
      clock: systemClock,
      termTimeoutMs: 1_000,
      killTimeoutMs: 1_000,
      onSigkill: () => (killed = true),
    });
    expect({ gone, killed }).toEqual({ gone: true, killed: false });
  });
});

const gcc = ['/usr/bin/gcc', '/usr/bin/cc'].find(hasTool);
if (!gcc) console.warn('[skip] a leader that exits before its threads: no C compiler');

describe.runIf(gcc !== undefined)('a leader that exits before its other threads', () => {
  // The leader shows Z while a thread still runs and holds the group's files (a VMM's tap).
  const program = `#include <pthread.h>
#include <signal.h>
#include <unistd.h>
static void *spin(void *arg) { (void)arg; for (;;) pause(); return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, spin, 0); pthread_exit(0); }
`;

  it('is alive until its last thread is gone, and terminate waits for that', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-leader-'));
    try {
      await writeFile(join(dir, 'leader.c'), program);
      await runner.run(gcc ?? 'cc', ['-pthread', '-o', join(dir, 'leader'), join(dir, 'leader.c')]);
      const child = start(join(dir, 'leader'), []);
      const reaped = new Promise((done) => child.once('exit', done));
      const pid = pidOf(child);
      await waitUntil(async () => ((await readProcStat(pid))?.state === 'Z' ? true : undefined), {
        clock: systemClock,
        timeoutMs: 5_000,
        intervalMs: 20,
        what: `leader ${pid} to show Z`,
      });
      expect(await isAlive(pid)).toBe(true);
      expect(await isAlive(pid, await processStartTime(pid))).toBe(true);
      expect(await waitForExit(pid, { clock: steppingClock(), timeoutMs: 100 })).toBe(false);
      const gone = await terminate(pid, {
        clock: systemClock,
        termTimeoutMs: 2_000,
        killTimeoutMs: 2_000,
      });
      expect(gone).toBe(true);
      await reaped;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pid files', () => {
  it('read a valid pid and refuse anything else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-pidfile-'));
    try {
      const file = join(dir, 'vm.pid');
      await writeFile(file, '4242\n');
      expect(await readPidFile(file)).toBe(4242);
      for (const text of ['', 'abc', '0', '-3', '12x']) {
        await writeFile(file, text);
        expect(await readPidFile(file)).toBeUndefined();
      }
      expect(await readPidFile(join(dir, 'missing.pid'))).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const canSwitchUser = isRoot && hasTool('/usr/bin/setpriv');
if (!canSwitchUser) console.warn('\n!!! EPERM probe: needs root and setpriv; skipping\n');

describe.runIf(canSwitchUser)("another user's process (EPERM, for real)", () => {
  it('is alive but not ours, and signalling it is an error, not a silent success', async () => {
    const pid = pidOf(start('sleep', ['30']));
    const probe = await runner.run(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '--import',
        TSX_LOADER,
        join(SUPPORT, 'probe-pid.ts'),
        String(pid),
      ],
      { cwd: tmpdir(), env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir() } },
    );
    expect(JSON.parse(probe.stdout)).toEqual({
      uid: 65534,
      probe: 'not-ours',
      alive: true,
      aliveAsRecorded: true,
      signalError: `not permitted to send SIGTERM to pid ${pid} (another user's process); stop it as its owner or as root`,
    });
    expect(await isAlive(pid)).toBe(true);
  });
});

const canUnshare = isRoot && hasTool('/usr/bin/unshare');
if (!canUnshare) console.warn('\n!!! pid reuse: needs root and unshare; skipping\n');

describe.runIf(canUnshare)('a pid reused by a new process (private pid namespace)', () => {
  it('the recorded start time tells them apart; terminate leaves the newcomer alone', async () => {
    const result = await runner.run(
      'unshare',
      [
        '--pid',
        '--fork',
        '--mount-proc',
        process.execPath,
        '--import',
        TSX_LOADER,
        join(SUPPORT, 'pid-reuse.ts'),
      ],
      { cwd: tmpdir(), timeoutMs: 30_000 },
    );
    const seen = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(seen['reused']).toBe(true);
    expect(seen['secondStart']).not.toBe(seen['firstStart']);
    expect(seen).toMatchObject({
      aliveAsFirst: false,
      aliveAsSecond: true,
      terminateFirst: true,
      secondAfterwards: true,
    });
  });
});
