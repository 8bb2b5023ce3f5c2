/**
 * The orphan reaper against real processes that look like VMMs to it (argv[0] a qemu binary,
 * a path into the vms dir): it stops the unowned ones, also one that ignores SIGTERM, and
 * leaves alone the owned one and another data dir's.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reapOrphans } from '../../src/agent/orphans.ts';
import { agentLayout } from '../../src/agent/runtime/layout.ts';
import type { AgentLayout } from '../../src/agent/runtime/layout.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { isAlive } from '../../src/drivers/process/process-control.ts';
import { quietLogger } from './agent-harness.ts';

const children: ChildProcess[] = [];
let dataDir: string;
let layout: AgentLayout;

/** A node process whose command line reads like a QEMU of `vmDir`; resolves once it listens. */
async function fakeVmm(vmDir: string, ignoreTerm = false): Promise<number> {
  const script = `${ignoreTerm ? "process.on('SIGTERM', () => {});" : ''} console.log('ready'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script, '--', '-qmp', `unix:${vmDir}/qmp.sock`], {
    argv0: 'qemu-system-x86_64',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(child);
  await new Promise((ready, failed) => {
    child.stdout?.once('data', ready);
    child.once('exit', (code) => failed(new Error(`fake VMM exited (${code})`)));
  });
  if (child.pid === undefined) throw new Error('spawn failed');
  return child.pid;
}

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mvm-orphans-'));
  layout = agentLayout(dataDir);
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('reapOrphans', () => {
  it('stops unowned VMM processes of this data dir, even one ignoring SIGTERM', async () => {
    const ghost = join(layout.vmsDir, 'mvm-acme-web-ghost');
    const kept = join(layout.vmsDir, 'mvm-acme-web-kept');
    await mkdir(ghost, { recursive: true });
    await mkdir(kept, { recursive: true });
    const polite = await fakeVmm(ghost);
    const stubborn = await fakeVmm(ghost, true);
    const owned = await fakeVmm(kept);
    const elsewhere = await fakeVmm(join(tmpdir(), 'another-agent', 'vms', 'mvm-acme-web-x'));

    const report = await reapOrphans(
      { layout, logger: quietLogger, clock: systemClock },
      new Set(['mvm-acme-web-kept']),
      new Set([owned]),
    );

    expect([...report.processes].sort()).toEqual([polite, stubborn].sort());
    expect(await isAlive(polite)).toBe(false);
    expect(await isAlive(stubborn)).toBe(false);
    expect(await isAlive(owned)).toBe(true);
    expect(await isAlive(elsewhere)).toBe(true);
    expect(report.dirs).toEqual(['mvm-acme-web-ghost']);
    expect(await readdir(layout.vmsDir)).toEqual(['mvm-acme-web-kept']);
  });

  it("removes the secrets drive dir of an instance no record owns, and no other's", async () => {
    layout = agentLayout(dataDir, join(dataDir, '..', `${basename(dataDir)}-secrets`));
    const ghost = join(layout.secretsDir, 'mvm-acme-web-ghost', 'drives');
    const kept = join(layout.secretsDir, 'mvm-acme-web-kept', 'drives');
    await mkdir(ghost, { recursive: true });
    await mkdir(kept, { recursive: true });
    try {
      const report = await reapOrphans(
        { layout, logger: quietLogger, clock: systemClock },
        new Set(['mvm-acme-web-kept']),
        new Set(),
      );
      expect(report.dirs).toEqual(['mvm-acme-web-ghost']);
      expect(await readdir(layout.secretsDir)).toEqual(['mvm-acme-web-kept']);
    } finally {
      await rm(dirname(layout.secretsDir), { recursive: true, force: true });
    }
  });

  it('finds nothing to do when every VMM and dir is owned', async () => {
    const kept = join(layout.vmsDir, 'mvm-acme-web-kept');
    await mkdir(kept, { recursive: true });
    const owned = await fakeVmm(kept);
    const report = await reapOrphans(
      { layout, logger: quietLogger, clock: systemClock },
      new Set(['mvm-acme-web-kept']),
      new Set([owned]),
    );
    expect(report).toEqual({ processes: [], cgroups: [], dirs: [] });
    expect(await isAlive(owned)).toBe(true);
  });
});
