/**
 * Seed 002's smoke test, §2–§13, as CI runs it: scripts/smoke-002.sh (a coordinator, `mvm add
 * host`, an agent in a namespace of the script's own, real QEMU microVMs at dev sizes, every
 * step asserted on `--json`, teardown on success and failure; docs/smoke-002.md maps each
 * step). This test runs the script and fails when it fails, showing the end of its output.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { netGate } from '../net/support/net-lab.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('seed 002 smoke test', [await netGate('seed 002 smoke test')]);

const SCRIPT = resolve(import.meta.dirname, '../../scripts/smoke-002.sh');
const SECTIONS = ['§2', '§3', '§4', '§5', '§6', '§7', '§8', '§9', '§10', '§11', '§12', '§13'];

function run(logFile: string): Promise<number | null> {
  const log = createWriteStream(logFile);
  const child = spawn('bash', [SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) => log.end(() => done(code)));
  });
}

describe.runIf(gate.run)('seed 002 smoke test (scripts/smoke-002.sh)', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs §2–§13 against real microVMs and cleans up after itself', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-smoke-test-'));
    const logFile = join(dir, 'smoke.log');
    const code = await run(logFile);
    const output = await readFile(logFile, 'utf8');
    const tail = output.split('\n').slice(-80).join('\n');
    expect(code, `scripts/smoke-002.sh failed; its last lines:\n${tail}`).toBe(0);
    expect(output).toContain('smoke-002: PASSED');
    for (const section of SECTIONS) expect(output).toContain(`=== ${section} `);
    expect(output).not.toMatch(/^FAILED/m);
  }, 1_800_000);
});
