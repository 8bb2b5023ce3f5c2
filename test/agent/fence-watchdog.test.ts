/**
 * The fence watchdog as a real detached process (agent/lease/start-fence-watchdog.ts), over a
 * real agent state file and desired document, pausing real QEMU processes through QMP (no
 * guest needed: `-M none`). Its "agent" is a real process the test kills. The whole path with
 * a real agent killed -9 and a guest re-placed on another node: test/e2e/node-partition.test.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LeaseFile, leaseFilePath } from '../../src/agent/lease/lease-file.ts';
import { startFenceWatchdog } from '../../src/agent/lease/start-fence-watchdog.ts';
import { openAgentDb } from '../../src/agent/state/open-agent-db.ts';
import type { StoredSpec } from '../../src/contract/agent-api.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';
import { NODE_DOCUMENT_SCHEMA } from '../../src/core/desired-doc.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { isAlive, processStartTime } from '../../src/drivers/process/process-control.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { QmpClient } from '../../src/drivers/qemu/qmp-client.ts';
import type { VmHandle } from '../../src/ports/vmm.ts';
import { quietLogger } from './agent-harness.ts';

const hasQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
if (!hasQemu && process.env.CI) {
  describe('the fence watchdog (CI)', () => {
    it('needs qemu-system-x86_64 in CI', () => {
      throw new Error('qemu-system-x86_64 is missing on this CI runner; install qemu-system-x86');
    });
  });
} else if (!hasQemu) console.warn('SKIPPED: the fence watchdog test needs qemu-system-x86_64');

const started: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function processId(child: ChildProcess) {
  const pid = child.pid ?? 0;
  return { pid, startTime: (await processStartTime(pid)) ?? 0 };
}

/** A stand-in for the agent: any process the test can kill. */
function fakeAgent(): ChildProcess {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  started.push(child);
  return child;
}

/** A QEMU with no guest, answering QMP at `<dir>/<name>/qmp.sock`. */
async function qemu(dir: string, name: string): Promise<VmHandle> {
  const workDir = join(dir, name);
  const socket = join(workDir, 'qmp.sock');
  await mkdir(workDir, { recursive: true });
  const child = spawn(
    'qemu-system-x86_64',
    ['-M', 'none', '-nodefaults', '-display', 'none', '-qmp', `unix:${socket},server=on,wait=off`],
    { stdio: 'ignore' },
  );
  started.push(child);
  await waitUntil(async () => ((await qmpStatus(socket).catch(() => '')) ? true : undefined), {
    clock: systemClock,
    timeoutMs: 20_000,
    intervalMs: 100,
    what: `qemu ${name} answering QMP`,
  });
  const { pid, startTime } = await processId(child);
  return {
    key: `mvm-t-${name}-a`,
    driver: 'qemu',
    pid,
    pidStartTime: startTime,
    controlSocket: socket,
    guestSocket: join(workDir, 'agent.sock'),
    workDir,
  };
}

async function qmpStatus(socket: string): Promise<string> {
  const qmp = await QmpClient.connect(socket, { timeoutMs: 3_000 });
  try {
    return (await qmp.execute<{ status?: string }>('query-status')).status ?? '';
  } finally {
    qmp.close();
  }
}

async function record(dataDir: string, pool: string, status: 'running' | 'warm', vm: VmHandle) {
  const db = await openAgentDb(join(dataDir, 'agent.sqlite'));
  try {
    await db.vms.insert({
      key: vm.key,
      tenantId: 't',
      poolId: pool,
      instanceId: 'a',
      spec: {} as StoredSpec,
      secrets: {},
      config: null,
      status,
      intent: null,
      handle: vm,
      snapshot: null,
      failureReason: null,
      createdAt: new Date().toISOString(),
    });
  } finally {
    await db.close();
  }
}

/** The agent's last document: `db` pinned (never re-placed), `web` not; `gone` unnamed. */
async function lastDocument(dataDir: string): Promise<void> {
  const pool = (id: string, pinned: boolean) => ({
    id,
    role: 'worker' as const,
    flake: '.',
    profile: 'minimal',
    revision: null,
    vcpus: 1,
    memMib: 256,
    dataDiskMib: 16,
    pinned,
    critical: false,
    secretsDigest: null,
    config: null,
    instances: [
      { id: 'a', ip: '10.240.9.2', mac: '52:54:00:00:09:02', desiredStatus: 'running' as const },
    ],
  });
  const document: NodeDesired = {
    schema: NODE_DOCUMENT_SCHEMA,
    nodeId: 'node-a',
    generation: 3,
    issuedAt: new Date().toISOString(),
    tenants: [
      {
        id: 't',
        netId: 9,
        subnet: '10.240.9.0/24',
        gateway: '10.240.9.1',
        vxlanPeers: [],
        egress: false,
        pools: [pool('web', false), pool('db', true), pool('idle', false)],
      },
    ],
  };
  const envelope = { payload: JSON.stringify(document) };
  await writeFile(join(dataDir, 'desired.json'), JSON.stringify(envelope));
}

const watchdogExit = (pid: number, startTime: number | undefined, what: string) =>
  waitUntil(async () => ((await isAlive(pid, startTime)) ? undefined : true), {
    clock: systemClock,
    timeoutMs: 30_000,
    intervalMs: 100,
    what,
  });

describe.runIf(hasQemu)('the fence watchdog, a process of its own', () => {
  it('pauses the dead agent’s re-placeable VMMs once its lease ran out, and nothing else', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mvm-fence-'));
    dirs.push(dataDir);
    const web = await qemu(dataDir, 'web');
    const db = await qemu(dataDir, 'db');
    const gone = await qemu(dataDir, 'gone');
    const idle = await qemu(dataDir, 'idle');
    await record(dataDir, 'web', 'running', web);
    await record(dataDir, 'db', 'running', db);
    await record(dataDir, 'gone', 'running', gone);
    await record(dataDir, 'idle', 'warm', idle);
    await lastDocument(dataDir);
    const agent = fakeAgent();
    const agentId = await processId(agent);
    const lease = new LeaseFile(leaseFilePath(dataDir));
    const expiresAt = Date.now() + 1_500;
    await lease.write({ agent: agentId, expiresAt });
    const pid = await startFenceWatchdog({ dataDir, agent: agentId, logger: quietLogger });
    if (pid === undefined) throw new Error('the watchdog did not start');
    const watchdogStart = await processStartTime(pid);

    // While the agent lives, nothing is touched, even past its lease's end.
    await systemClock.sleep(2_500);
    expect(await isAlive(pid, watchdogStart)).toBe(true);
    expect(await qmpStatus(web.controlSocket)).toBe('running');

    // The agent dies with its lease renewed a little: the watchdog waits that out.
    await lease.write({ agent: agentId, expiresAt: Date.now() + 2_000 });
    const killedAt = Date.now();
    agent.kill('SIGKILL');
    await watchdogExit(pid, watchdogStart, 'the watchdog fencing and ending');
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2_000);
    expect(await qmpStatus(web.controlSocket)).toBe('paused');
    expect(await qmpStatus(gone.controlSocket)).toBe('paused'); // not in the last document
    expect(await qmpStatus(db.controlSocket)).toBe('running'); // pinned: never re-placed
    expect(await qmpStatus(idle.controlSocket)).toBe('running'); // warm on record: not its job
    const log = await readFile(join(dataDir, 'fence-watchdog.log'), 'utf8');
    expect(log).toContain('pausing its re-placeable instances');
    expect(log).toMatch(/"paused":\["t\/gone\/a","t\/web\/a"\]/);
  }, 60_000);

  it('ends at once when another agent takes the data dir over', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mvm-fence-'));
    dirs.push(dataDir);
    const web = await qemu(dataDir, 'web');
    await record(dataDir, 'web', 'running', web);
    await lastDocument(dataDir);
    const first = fakeAgent();
    const firstId = await processId(first);
    const lease = new LeaseFile(leaseFilePath(dataDir));
    await lease.write({ agent: firstId, expiresAt: Date.now() + 1_000 });
    const pid = await startFenceWatchdog({ dataDir, agent: firstId, logger: quietLogger });
    if (pid === undefined) throw new Error('the watchdog did not start');
    const watchdogStart = await processStartTime(pid);
    first.kill('SIGKILL');
    // A restarted agent writes the file before its lease could run out here.
    const second = fakeAgent();
    await lease.write({ agent: await processId(second), expiresAt: Date.now() + 60_000 });
    await watchdogExit(pid, watchdogStart, 'the old watchdog ending');
    await systemClock.sleep(1_500);
    expect(await qmpStatus(web.controlSocket)).toBe('running');
    expect(await readFile(join(dataDir, 'fence-watchdog.log'), 'utf8')).toContain(
      'took the data dir over',
    );
  }, 60_000);
});
