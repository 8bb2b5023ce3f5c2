/** The real ProcessRunner (lives here because the QEMU driver is its first user). */
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostError } from '../../../src/core/errors.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';

const runner = new NodeProcessRunner();

describe('NodeProcessRunner', () => {
  it('runs argument arrays without a shell and feeds stdin', async () => {
    const out = await runner.run('cat', [], { input: 'a b; $(nope)\n' });
    expect(out).toEqual({ exitCode: 0, stdout: 'a b; $(nope)\n', stderr: '' });
  });

  it('throws HostError with command, args, exit code and stderr tail', async () => {
    const failure = runner.run('sh', ['-c', 'echo boom >&2; exit 3']);
    await expect(failure).rejects.toBeInstanceOf(HostError);
    await expect(failure).rejects.toMatchObject({
      code: 'host_failure',
      details: { command: 'sh', exitCode: 3, stderrTail: 'boom' },
    });
  });

  it('returns a non-zero exit when check is false', async () => {
    expect((await runner.run('false', [], { check: false })).exitCode).toBe(1);
  });

  it('kills a command that overruns its timeout', async () => {
    await expect(runner.run('sleep', ['5'], { timeoutMs: 100 })).rejects.toThrow(
      /timed out after 100 ms/,
    );
  });

  it('reports a missing binary clearly', async () => {
    await expect(runner.run('mvm-no-such-binary', [])).rejects.toThrow(/could not run/);
    expect(() => runner.spawn('mvm-no-such-binary', [])).toThrow(/could not start/);
  });

  it('spawns with output appended to a log file and reports the exit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-run-'));
    const log = join(dir, 'out.log');
    const child = runner.spawn('sh', ['-c', 'echo hello; exit 4'], {
      logFile: log,
      detached: true,
    });
    expect(child.pid).toBeGreaterThan(0);
    expect(await child.exited).toBe(4);
    expect(await readFile(log, 'utf8')).toBe('hello\n');
    await rm(dir, { recursive: true, force: true });
  });

  it('hands open descriptors to the child as fd 3, 4, ... in order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-run-'));
    const log = join(dir, 'out.log');
    await writeFile(join(dir, 'a'), 'from a\n');
    const a = await open(join(dir, 'a'), 'r');
    const b = await open(join(dir, 'b'), 'w');
    const child = runner.spawn('sh', ['-c', 'cat <&3; echo to-b >&4'], {
      logFile: log,
      fds: [a.fd, b.fd],
    });
    await Promise.all([a.close(), b.close()]);
    expect(await child.exited).toBe(0);
    expect(await readFile(log, 'utf8')).toBe('from a\n');
    expect(await readFile(join(dir, 'b'), 'utf8')).toBe('to-b\n');
    await rm(dir, { recursive: true, force: true });
  });

  it('holds a process before its command until released, keeping its pid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-run-'));
    const log = join(dir, 'out.log');
    const child = runner.spawn('sh', ['-c', 'echo ran as $$'], { logFile: log, held: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await readFile(log, 'utf8')).toBe('');
    child.release();
    expect(await child.exited).toBe(0);
    expect(await readFile(log, 'utf8')).toBe(`ran as ${child.pid}\n`);
    await rm(dir, { recursive: true, force: true });
  });
});
