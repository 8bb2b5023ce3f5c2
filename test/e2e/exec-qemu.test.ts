/**
 * Exec, shell and cp into a real guest, the whole way: the CLI (in-process) → a real
 * coordinator listener → the node's tunnel held by a real agent (startAgent, linked by token)
 * → the guest agent in a QEMU guest (TCG). One guest for the file; many cases: output and
 * exit codes, a signal, stdin, 10 MB to a slow reader, copies with modes, a pty's size,
 * another tenant's 404, the audit trail, a busy guest's sleep refused and then forced within
 * the drain deadline while a long command runs, and an exec waking the sleeping instance;
 * and `mvm instance logs` (tail, follow, a sleeping instance read without waking it).
 * test/cli/instance-exec.test.ts covers the same path without a VM, in more detail.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { agentDataDir, quietLogger, tcgVmm, testAgentConfig } from '../agent/agent-harness.ts';
import { cliAt, liveStdin, testTty, type CliResult } from '../support/exec-world.ts';
import { until } from '../support/until.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('exec through the coordinator');

const ADMIN = randomBytes(24).toString('hex');
const MiB = 1024 * 1024;
const DRAIN_MS = 3_000;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe.runIf(gate.run)('exec, shell and cp through the coordinator into a real guest', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  let agent: AgentHandle;
  let api: ApiClient;
  let mvm: ReturnType<typeof cliAt>;
  let ref: string;
  let params: { tenant: string; pool: string; instance: string };
  let rivalToken: string;

  const instance = () => api.call('getInstance', { params });
  const exec = (argv: string[], options?: Parameters<typeof mvm>[1]) =>
    mvm(['instance', 'exec', ref, '--', ...argv], options);

  beforeAll(async () => {
    dir = await agentDataDir('exq');
    coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(dir, 'coordinator.sqlite'),
        clusterCidr: '10.240.0.0/12',
        adminToken: ADMIN,
        dataDir: join(dir, 'coordinator'),
      },
      { logger: pino({ level: 'silent' }) },
    );
    api = createApiClient({ baseUrl: coordinator.url, token: ADMIN, timeoutMs: 60_000 });
    const capacity = { vcpus: 4, memMib: 2048, diskGib: 10 };
    await api.call('registerNode', {
      params: { node: 'n1' },
      body: { hostname: 'n1', arch: 'x86_64', capacity },
    });
    for (const tenant of ['acme', 'rival']) {
      await api.call('createTenant', { body: { id: tenant } });
      await api.call('createPool', {
        params: { tenant },
        body: { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256, dataDiskMib: 16 },
      });
    }
    rivalToken = (
      await api.call('createToken', { params: { tenant: 'rival' }, body: { name: 'r' } })
    ).token;
    const scaled = await api.call('scalePool', {
      params: { tenant: 'acme', pool: 'web' },
      body: { running: 1 },
    });
    params = { tenant: 'acme', pool: 'web', instance: scaled.created[0]?.id ?? '' };
    ref = `acme/web/${params.instance}`;
    agent = await startAgent(
      testAgentConfig(
        join(dir, 'agent'),
        { MVM_NETWORK: 'off' },
        { coordinator: coordinator.url, token: ADMIN, node: 'n1', heartbeatMs: 1_000 },
      ),
      {
        logger: quietLogger,
        vmm: tcgVmm(),
        cgroups: null,
        network: null,
        capacity,
        timeouts: { sleepPrepMs: DRAIN_MS },
      },
    );
    await until('the instance to run', async () =>
      (await instance()).status === 'running' ? true : undefined,
    );
    await until('the tunnel', () => agent.link?.tunnel.connected || undefined, 30_000);
    mvm = cliAt(coordinator.url, ADMIN);
  }, 300_000);

  afterAll(async () => {
    await agent?.runtime.destroyAll().catch(() => undefined);
    await agent?.close();
    await coordinator?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs commands: output, exit codes, a signal, a timeout, stdin', async () => {
    const run = await exec(['sh', '-c', 'echo out; echo err >&2; hostname; exit 3']);
    expect(run).toMatchObject({ code: 3, stderr: 'err\n' });
    expect(run.stdout.toString()).toBe(`out\n${params.instance}\n`);
    expect((await exec(['sh', '-c', 'kill -TERM $$'])).code).toBe(143);
    expect((await mvm(['instance', 'exec', '--timeout', '1', ref, '--', 'sleep', '60'])).code).toBe(
      124,
    );
    expect((await exec(['/no/such/thing'])).code).toBe(127);
    const input = randomBytes(MiB);
    const piped = await exec(['sh', '-c', 'sha256sum | cut -d" " -f1'], {
      stdin: Readable.from([input]),
    });
    expect(piped.stdout.toString().trim()).toBe(sha256(input));
  }, 120_000);

  it('carries 10 MB of output byte-exact to a slow reader', async () => {
    const run = await exec(['sh', '-c', 'head -c 10485760 /dev/urandom | tee /tmp/ten'], {
      slowStdoutMs: 1,
    });
    expect(run.code).toBe(0);
    expect(run.stdout.length).toBe(10 * MiB);
    const inGuest = await exec(['sha256sum', '/tmp/ten']);
    expect(inGuest.stdout.toString().split(' ')[0]).toBe(sha256(run.stdout));
  }, 300_000);

  it('copies a file in and out, byte-exact, keeping its mode', async () => {
    const local = join(dir, 'in.bin');
    const content = randomBytes(MiB + 3);
    await writeFile(local, content);
    await chmod(local, 0o604);
    const put = await mvm(['instance', 'cp', local, `${ref}:/tmp/in.bin`]);
    expect(put.code, put.stderr).toBe(0);
    const seen = await exec(['sh', '-c', 'stat -c %a /tmp/in.bin; sha256sum /tmp/in.bin']);
    expect(seen.stdout.toString()).toBe(`604\n${sha256(content)}  /tmp/in.bin\n`);
    await exec(['chmod', '750', '/tmp/in.bin']);
    const back = join(dir, 'back.bin');
    const get = await mvm(['instance', 'cp', `${ref}:/tmp/in.bin`, back]);
    expect(get.code, get.stderr).toBe(0);
    expect(sha256(await readFile(back))).toBe(sha256(content));
    expect((await stat(back)).mode & 0o7777).toBe(0o750);
  }, 120_000);

  it('opens a shell whose terminal size follows a resize', async () => {
    const stdin = liveStdin();
    const tty = testTty({ cols: 80, rows: 24 });
    let seen = '';
    const run = mvm(['instance', 'shell', ref], {
      stdin,
      tty: tty.control,
      onStdout: (chunk) => (seen += chunk.toString()),
    });
    stdin.write('stty size\n');
    await until('the first size', () => (seen.includes('24 80') ? true : undefined), 30_000);
    tty.resize({ cols: 120, rows: 40 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    stdin.write('stty size; exit 4\n');
    const result = await run;
    expect(result.code).toBe(4);
    expect(result.stdout.toString()).toContain('40 120');
    expect(tty.raw).toEqual([true, false]);
  }, 120_000);

  it("answers another tenant's token with the 404 of a missing tenant", async () => {
    const other = await mvm(['instance', 'exec', ref, '--', 'true'], { token: rivalToken });
    expect(other.code).toBe(4);
    expect(other.stderr).toMatch(/tenant 'acme' not found/);
  });

  it("shows the guest's console through the coordinator: the tail, then --follow", async () => {
    // The dev image runs no workload: its output is empty, and reading it works.
    const workload = await mvm(['instance', 'logs', ref]);
    expect(workload.code, workload.stderr).toBe(0);
    const boot = await mvm(['instance', 'logs', ref, '--console', '--tail', '10000']);
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.stdout.toString()).toContain('MVM-BOOT-OK');
    expect(
      (await mvm(['instance', 'logs', ref, '--console', '--tail', '2'])).stdout.toString(),
    ).toMatch(/^[^\n]*\n?[^\n]*\n?$/);
    let interrupt: (name: string) => void = () => undefined;
    const shutdown = new Promise<string>((resolve) => (interrupt = resolve));
    let seen = '';
    const follow = mvm(['instance', 'logs', ref, '--console', '--tail', '0', '--follow'], {
      shutdown,
      onStdout: (chunk) => (seen += chunk.toString()),
    });
    // Written in the guest to its console: the serial line the node keeps.
    const marker = `mvm-logs-${randomBytes(4).toString('hex')}`;
    await until(
      'the marker in the followed console',
      async () => {
        await exec(['sh', '-c', `echo ${marker} > /dev/console`]);
        return seen.includes(marker) || undefined;
      },
      60_000,
      1_000,
    );
    interrupt('SIGINT');
    const done = await follow;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout.toString()).not.toContain('MVM-BOOT-OK');
    const other = await mvm(['instance', 'logs', ref, '--console'], { token: rivalToken });
    expect(other.code).toBe(4);
    expect(other.stderr).toMatch(/tenant 'acme' not found/);
  }, 120_000);

  it('audits every session with its argv and exit code, never its data', async () => {
    const events = await api.call('listEvents', { query: { tenant: 'acme', last: 100 } });
    const execs = events.filter((e) => e.action === 'instance.exec');
    expect(execs.map((e) => e.detail['exitCode'])).toEqual(
      expect.arrayContaining([3, 143, 124, 127, 0]),
    );
    expect(execs.find((e) => e.detail['exitCode'] === 3)?.detail['argv']).toEqual([
      'sh',
      '-c',
      'echo out; echo err >&2; hostname; exit 3',
    ]);
    expect(events.filter((e) => e.action === 'instance.cp')).toHaveLength(2);
    expect(events.filter((e) => e.action === 'instance.shell')).toHaveLength(1);
    expect(JSON.stringify(events)).not.toContain('err\\n');
  });

  it('does not let a long command hold a sleep past the drain deadline', async () => {
    // A command that would run for minutes keeps the guest busy.
    let started = false;
    const long = exec(['sh', '-c', 'echo started; exec sleep 300'], {
      onStdout: (chunk) => (started ||= chunk.toString().includes('started')),
    });
    let longEnded = false;
    void long.finally(() => (longEnded = true));
    await until('the long command', () => started || undefined, 60_000);
    // A plain sleep: the node's drain waits DRAIN_MS, then refuses; the instance runs on.
    const asked = Date.now();
    await mvm(['instance', 'sleep', ref]);
    const refused = await until(
      'the refusal',
      async () =>
        (await instance()).failureReason?.includes('still busy') ? instance() : undefined,
      60_000,
      200,
    );
    expect(refused.status).toBe('running');
    expect(longEnded).toBe(false); // refused, not snapshotted: the command runs on
    expect(refused.failureReason).toMatch(/still busy after a 3000 ms drain \(commands: sh\)/);
    // The drain waited for its deadline, and not much longer.
    expect(Date.now() - asked).toBeGreaterThanOrEqual(DRAIN_MS - 500);
    expect(Date.now() - asked).toBeLessThan(DRAIN_MS + 20_000);
    // Forced: snapshotted after the same drain, long before the command would end.
    const forcedAt = Date.now();
    const forced = await mvm(['instance', 'sleep', '--force', ref]);
    expect(forced.code).toBe(0);
    await until(
      'the forced sleep',
      async () => ((await instance()).status === 'sleeping' ? true : undefined),
      120_000,
      200,
    );
    expect(Date.now() - forcedAt).toBeLessThan(DRAIN_MS + 45_000);
    // The session into the guest that went to sleep ends (its VMM process is gone): exit 7.
    const ended: CliResult = await long;
    expect(ended.code, ended.stderr).toBe(7);
    expect((await instance()).failureReason).toBeNull();
  }, 300_000);

  it("reads a sleeping instance's console without waking it", async () => {
    const run = await mvm(['instance', 'logs', ref, '--console', '--tail', '10000']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.toString()).toContain('MVM-BOOT-OK');
    expect(await instance()).toMatchObject({ status: 'sleeping', desiredStatus: 'sleeping' });
  });

  it('wakes the sleeping instance for an exec, and says who woke it', async () => {
    expect((await instance()).status).toBe('sleeping');
    const run = await exec(['cat', '/proc/uptime']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.toString()).toMatch(/^\d+\.\d+ /);
    expect(await instance()).toMatchObject({ status: 'running', desiredStatus: 'running' });
    const events = await api.call('listEvents', { query: { tenant: 'acme', last: 5 } });
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['instance.wake', 'instance.exec']),
    );
  }, 300_000);

  it('loses no output over many execs in a loop (MVM_E2E_EXEC_LOOP, default 200)', async () => {
    // The guest client's exit once settled before the output that came in the same read
    // reached its readers (about one exec in 150 under TCG); the whole path must lose none.
    const lost: string[] = [];
    for (let i = 0; i < Number(process.env['MVM_E2E_EXEC_LOOP'] ?? 200); i += 1) {
      const run = await exec(['sh', '-c', `echo out-${i}`]);
      const out = run.stdout.toString();
      if (run.code !== 0 || out !== `out-${i}\n`)
        lost.push(`#${i}: ${run.code} ${JSON.stringify(out)}`);
    }
    expect(lost).toEqual([]);
  }, 900_000);
});
