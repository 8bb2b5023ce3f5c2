/**
 * mvm-tapfd, compiled from its source as the agent compiles it, run for real: its argument
 * errors, a missing tap (refused, and not created, unless `--transient`), a device that is not
 * a tap, a tap already in use, and a real persistent tap in a namespace of this test, which the
 * exec'd command inherits on the asked descriptor, attached, with a vnet header and no
 * close-on-exec.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import { ensureTapfd } from '../../../src/drivers/qemu/tapfd-binary.ts';
import type { RunResult } from '../../../src/ports/process-runner.ts';

const runner = new NodeProcessRunner();
const gcc = existsSync('/usr/bin/gcc');
const root = process.getuid?.() === 0 && existsSync('/dev/net/tun');
if (!gcc) console.warn('[skip] mvm-tapfd: gcc is absent (scripts/setup.sh installs it)');
if (!root) console.warn('[skip] mvm-tapfd against real taps: needs root and /dev/net/tun');

const NS = `tapfd-h-${process.pid}`;
const TAP = 'tapfdh0';

describe.runIf(gcc)('mvm-tapfd', () => {
  let cacheDir = '';
  let helper = '';
  let inNs = false;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'mvm-tapfd-'));
    helper = await ensureTapfd(cacheDir, runner);
  }, 120_000);

  afterAll(async () => {
    if (inNs) await runner.run('ip', ['netns', 'del', NS], { check: false });
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  const tapfd = (args: readonly string[], ns?: string): Promise<RunResult> =>
    ns === undefined
      ? runner.run(helper, args, { check: false, timeoutMs: 10_000 })
      : runner.run('ip', ['netns', 'exec', ns, helper, ...args], {
          check: false,
          timeoutMs: 10_000,
        });

  it('is built once per source and compiler: a second call finds the cached binary', async () => {
    expect(helper).toMatch(/host-tools\/mvm-tapfd\/[0-9a-f]{32}\/mvm-tapfd$/);
    expect(await ensureTapfd(cacheDir, runner)).toBe(helper);
  });

  it.each([
    [[], /no tap given; usage: mvm-tapfd/],
    [['tap0'], /a tap name without a descriptor number/],
    [['tap0', '--', 'true'], /a tap name without a descriptor number/],
    [['tap0', '5'], /no '--' before the command/],
    [['tap0', '5', '--'], /no command after '--'/],
    [['bad/name', '5', '--', 'true'], /invalid tap name 'bad\/name'/],
    [['sixteen-chars-xx', '5', '--', 'true'], /invalid tap name 'sixteen-chars-xx'/],
    [['tap0', '2', '--', 'true'], /invalid descriptor number '2' for tap 'tap0': 3 to 1023/],
    [['tap0', '5x', '--', 'true'], /invalid descriptor number '5x'/],
    [['tap0', '5', 'tap1', '5', '--', 'true'], /descriptor 5 is given twice/],
    [['--transient', '--', 'true'], /--transient without a tap/],
  ])('refuses %j with exit 1 and says why', async (args, message) => {
    const result = await tapfd(args);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^mvm-tapfd: /);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  describe.runIf(root)('against real devices in a namespace of its own', () => {
    beforeAll(async () => {
      await runner.run('ip', ['netns', 'add', NS]);
      inNs = true;
      await runner.run('ip', ['-n', NS, 'tuntap', 'add', 'dev', TAP, 'mode', 'tap']);
    });

    it('refuses a missing tap, naming it, and does not create it', async () => {
      const result = await tapfd(['tapfd-none0', '5', '--', 'true'], NS);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(
        /no tap 'tapfd-none0' in this network namespace \(No such device, errno 19\)/,
      );
      const link = await runner.run('ip', ['-n', NS, 'link', 'show', 'tapfd-none0'], {
        check: false,
      });
      expect(link.exitCode).not.toBe(0);
    });

    it('refuses a device that is not a tap, naming the step and errno', async () => {
      const result = await tapfd(['lo', '5', '--', 'true'], NS);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(
        /TUNSETIFF \(attach\) for tap 'lo' failed: Invalid argument \(errno 22\)/,
      );
    });

    it('hands the attached tap to the command on the asked descriptor, inheritable', async () => {
      const script = `cat /proc/self/fdinfo/7; readlink /proc/self/fd/7; ip -d link show ${TAP}`;
      const result = await tapfd([TAP, '7', '--', 'sh', '-c', script], NS);
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^iff:\\s+${TAP}$`, 'm'));
      expect(result.stdout).toMatch(/^\/dev\/net\/tun$/m);
      // O_CLOEXEC (02000000) is not among the open flags: the exec'd command still has it.
      const flags = /^flags:\s+([0-7]+)$/m.exec(result.stdout)?.[1] ?? '';
      expect(flags).not.toBe('');
      expect(Number.parseInt(flags, 8) & 0o2000000).toBe(0);
      // Attached as QEMU attaches a tap by name: no packet info, with a vnet header.
      expect(result.stdout).toMatch(/tun type tap pi off vnet_hdr on persist on/);
    });

    it('makes a missing tap only when told --transient, and it goes with the command', async () => {
      const script = 'grep iff /proc/self/fdinfo/5; ip -d link show tapfdx0';
      const result = await tapfd(['--transient', 'tapfdx0', '5', '--', 'sh', '-c', script], NS);
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(/^iff:\s+tapfdx0$/m);
      expect(result.stdout).toMatch(/tun type tap pi off vnet_hdr on persist off/);
      const gone = await runner.run('ip', ['-n', NS, 'link', 'show', 'tapfdx0'], { check: false });
      expect(gone.exitCode).not.toBe(0);
      // An existing persistent tap is attached all the same.
      const existing = await tapfd(['--transient', TAP, '5', '--', 'true'], NS);
      expect(existing.exitCode).toBe(0);
    });

    it('refuses a tap that another process holds, and exec failures are named too', async () => {
      const busy = await tapfd([TAP, '3', '--', helper, TAP, '4', '--', 'true'], NS);
      expect(busy.exitCode).toBe(1);
      expect(busy.stderr).toMatch(
        new RegExp(`TUNSETIFF \\(attach\\) for tap '${TAP}' failed: Device or resource busy`),
      );
      const missing = await tapfd([TAP, '3', '--', '/nonexistent/qemu'], NS);
      expect(missing.exitCode).toBe(1);
      expect(missing.stderr).toMatch(
        /exec '\/nonexistent\/qemu' failed: No such file or directory \(errno 2\)/,
      );
    });
  });
});
