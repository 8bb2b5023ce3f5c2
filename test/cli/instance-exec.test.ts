/**
 * `mvm instance exec|shell|cp` through a real coordinator and a node's tunnel, without a VM:
 * the node's sessions run in the real static guest agent on this host (test/support/
 * exec-world.ts). Output and exit codes, signals, stdin, 10 MB through a slow reader with
 * bounded buffers on the path, copies both ways, a pty's size, another tenant's 404, the
 * audit trail, waking, and the tunnel coming back after a coordinator restart.
 * test/e2e/exec-qemu.test.ts runs the path into a real guest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SESSION_WINDOW } from '../../src/contract/exec.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { liveStdin, startExecWorld, type ExecWorld } from '../support/exec-world.ts';
import { until } from '../support/until.ts';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const MiB = 1024 * 1024;

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`instance exec, shell and cp [${db.name}]`, () => {
    let world: ExecWorld;
    let database: Awaited<ReturnType<typeof db.open>>;
    let scratch: string;

    beforeAll(async () => {
      database = await db.open();
      world = await startExecWorld(database.url);
      scratch = await mkdtemp(join(tmpdir(), 'mvm-exec-files-'));
    }, 120_000);
    afterAll(async () => {
      await world?.close();
      await database?.cleanup();
      await rm(scratch, { recursive: true, force: true });
    });

    const exec = (argv: string[], options?: Parameters<ExecWorld['mvm']>[1]) =>
      world.mvm(['instance', 'exec', world.ref, '--', ...argv], options);

    it('streams stdout and stderr apart and exits with the command status', async () => {
      const run = await exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(run).toMatchObject({ code: 3, stderr: 'err\n' });
      expect(run.stdout.toString()).toBe('out\n');
      const ok = await exec(['echo', '-n', 'a b', '', '-x']);
      expect(ok.code).toBe(0);
      expect(ok.stdout.toString()).toBe('a b  -x');
    });

    it('passes environment, working directory and user', async () => {
      const run = await world.mvm([
        'instance',
        'exec',
        '--env',
        'GREETING=hi there',
        '--env',
        'EMPTY=',
        '--cwd',
        '/tmp',
        '--user',
        '65534',
        world.ref,
        '--',
        'sh',
        '-c',
        'echo "$GREETING|$EMPTY|$(pwd)|$(id -u)"',
      ]);
      expect(run.stdout.toString()).toBe('hi there||/tmp|65534\n');
    });

    it('reports a signal as 128+n, a timeout as 124 and a missing command as 127', async () => {
      expect((await exec(['sh', '-c', 'kill -TERM $$'])).code).toBe(143);
      const timed = await world.mvm([
        'instance',
        'exec',
        '--timeout',
        '1',
        world.ref,
        '--',
        'sleep',
        '30',
      ]);
      expect(timed.code).toBe(124);
      const missing = await exec(['/no/such/command']);
      expect(missing.code).toBe(127);
    });

    it('forwards ^C to the command, which exits 130', async () => {
      let interrupt: (name: string) => void = () => undefined;
      const shutdown = new Promise<string>((resolve) => (interrupt = resolve));
      const started = Date.now();
      // exec: no window between the shell's fork and its child's exec for the signal to hit.
      const run = exec(['sh', '-c', 'echo ready; exec sleep 30'], {
        shutdown,
        onStdout: (chunk) => {
          if (chunk.toString().includes('ready')) interrupt('SIGINT');
        },
      });
      expect((await run).code).toBe(130);
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it('pipes stdin to the command and forwards its end', async () => {
      const input = randomBytes(3 * MiB);
      const run = await exec(['sh', '-c', 'sha256sum | cut -d" " -f1; echo done >&2'], {
        stdin: Readable.from([input.subarray(0, MiB), input.subarray(MiB)]),
      });
      expect(run.code).toBe(0);
      expect(run.stdout.toString().trim()).toBe(sha256(input));
      expect(run.stderr).toBe('done\n');
    });

    it('carries 10 MB of output byte-exact to a slow reader, holding at most a window on the way', async () => {
      const before = world.logs.with('session ended').length;
      const run = await exec(
        ['sh', '-c', 'head -c 10485760 /dev/urandom | tee /tmp/mvm-exec-10m'],
        {
          slowStdoutMs: 2,
        },
      );
      expect(run.code).toBe(0);
      expect(run.stdout.length).toBe(10 * MiB);
      expect(sha256(run.stdout)).toBe(sha256(await readFile('/tmp/mvm-exec-10m')));
      await rm('/tmp/mvm-exec-10m', { force: true });
      const figures = world.logs.with('session ended').slice(before);
      expect(figures).toHaveLength(1);
      const [session] = figures;
      // The coordinator never had more than the client's window in flight, and its socket
      // to the client never held more than that (plus one chunk in the kernel's way).
      expect(session?.['window']).toBe(DEFAULT_SESSION_WINDOW);
      expect(session?.['peakInFlight']).toBeLessThanOrEqual(DEFAULT_SESSION_WINDOW);
      // ... and the reader was the bottleneck: the window did fill.
      expect(session?.['peakInFlight']).toBeGreaterThan(DEFAULT_SESSION_WINDOW / 2);
      expect(session?.['peakClientBuffered']).toBeLessThanOrEqual(
        DEFAULT_SESSION_WINDOW + 64 * 1024,
      );
      // The agent held at most the guest channel's window of unsent output.
      const held = world.agentLog
        .filter((l) => l.msg === 'session ended')
        .map((l) => (l.obj as { peakOutputHeld: number }).peakOutputHeld);
      expect(Math.max(...held)).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
    }, 120_000);

    it("answers another tenant's instance as it answers a missing one: 404, exit 4", async () => {
      const own = await exec(['true'], { token: world.tokens.acme });
      expect(own.code).toBe(0);
      const other = await world.mvm(['instance', 'exec', world.rivalRef, '--', 'true'], {
        token: world.tokens.acme,
      });
      expect(other.code).toBe(4);
      const missing = await world.mvm(['instance', 'exec', 'nosuch/web/x', '--', 'true'], {
        token: world.tokens.acme,
      });
      expect(other.stderr.replaceAll('rival', 'nosuch')).toBe(missing.stderr);
      expect(other.stderr).toMatch(/tenant 'rival' not found/);
      const unknown = await world.mvm(['instance', 'exec', world.ref, '--', 'true'], {
        token: 'mvm_not-a-token',
      });
      expect(unknown.code).toBe(3);
    });

    it('copies a file in and out byte-exact, keeping its mode', async () => {
      const local = join(scratch, 'payload.bin');
      const content = randomBytes(2 * MiB + 17);
      await writeFile(local, content);
      await chmod(local, 0o640);
      const remote = join(scratch, 'remote.bin');
      const put = await world.mvm(['instance', 'cp', local, `${world.ref}:${remote}`]);
      expect(put.code, put.stderr).toBe(0);
      expect(put.stdout.toString()).toMatch(/copied 2097169 bytes \(mode 0640\)/);
      expect(sha256(await readFile(remote))).toBe(sha256(content));
      expect((await stat(remote)).mode & 0o7777).toBe(0o640);

      await chmod(remote, 0o751);
      const back = join(scratch, 'back');
      const get = await world.mvm(['instance', 'cp', '--json', `${world.ref}:${remote}`, back]);
      expect(get.code, get.stderr).toBe(0);
      expect(JSON.parse(get.stdout.toString())).toMatchObject({
        direction: 'from-instance',
        bytes: content.length,
        mode: '0751',
      });
      expect(sha256(await readFile(back))).toBe(sha256(content));
      expect((await stat(back)).mode & 0o7777).toBe(0o751);

      const absent = await world.mvm(['instance', 'cp', `${world.ref}:${scratch}/none`, back]);
      expect(absent.code).toBe(4);
      expect(sha256(await readFile(back))).toBe(sha256(content));
      const both = await world.mvm(['instance', 'cp', local, back]);
      expect(both.code).toBe(2);
    });

    it('gives a terminal whose size follows the local window', async () => {
      const stdin = liveStdin();
      let size = { cols: 80, rows: 24 };
      let resized: () => void = () => undefined;
      const raw: boolean[] = [];
      let seen = '';
      const run = world.mvm(['instance', 'shell', world.ref], {
        stdin,
        tty: {
          setRawMode: (on) => raw.push(on),
          size: () => size,
          onResize: (listener) => {
            resized = listener;
            return () => (resized = () => undefined);
          },
        },
        onStdout: (chunk) => (seen += chunk.toString()),
      });
      stdin.write('stty size\n');
      await until('the first size', () => (seen.includes('24 80') ? true : undefined), 15_000);
      size = { cols: 132, rows: 43 };
      resized();
      await new Promise((resolve) => setTimeout(resolve, 300));
      stdin.write('stty size; exit 7\n');
      const result = await run;
      expect(result.code).toBe(7);
      expect(result.stdout.toString()).toContain('43 132');
      expect(raw).toEqual([true, false]);
    });

    it('records every session in the audit trail: who, argv and exit code, never the data', async () => {
      const marker = `secret-output-${randomBytes(6).toString('hex')}`;
      const run = await exec(['sh', '-c', `echo ${marker}; read x; echo "$x"; exit 9`], {
        token: world.tokens.acme,
        stdin: Readable.from([Buffer.from('typed-input-xyz\n')]),
      });
      expect(run.code).toBe(9);
      const events = await world.api.call('listEvents', { query: { tenant: 'acme', last: 50 } });
      const event = events.find(
        (e) => e.action === 'instance.exec' && JSON.stringify(e.detail).includes(marker),
      );
      expect(event).toMatchObject({
        actor: 'tenant:acme:acme-ci',
        target: world.ref,
        detail: {
          argv: ['sh', '-c', `echo ${marker}; read x; echo "$x"; exit 9`],
          exitCode: 9,
          tty: false,
        },
      });
      expect(event?.detail['tokenId']).toEqual(expect.any(String));
      const all = JSON.stringify(events);
      expect(all).not.toContain('typed-input-xyz');
      expect(all.split(marker).length - 1).toBe(1); // in argv only, never as output
      expect(events.map((e) => e.action)).toEqual(
        expect.arrayContaining(['instance.cp', 'instance.shell']),
      );
      const copy = events.find((e) => e.action === 'instance.cp');
      expect(copy?.detail).toMatchObject({
        direction: expect.any(String),
        path: expect.any(String),
      });
    });

    it('wakes a sleeping instance first, then runs the command', async () => {
      await world.api.call('instanceAction', {
        params: { tenant: 'acme', pool: 'web', instance: world.instance },
        body: { action: 'sleep' },
      });
      const params = { node: 'n1', tenant: 'acme', pool: 'web', instance: world.instance };
      await world.api.call('reportInstanceStatus', { params, body: { status: 'sleeping' } });
      const run = exec(['echo', 'awake']);
      // The coordinator asks for running; this test plays the node and reports it.
      await until('the wake request', async () => {
        const i = await world.api.call('getInstance', {
          params: { tenant: 'acme', pool: 'web', instance: world.instance },
        });
        return i.desiredStatus === 'running' ? true : undefined;
      });
      await world.api.call('reportInstanceStatus', { params, body: { status: 'running' } });
      const result = await run;
      expect(result.code).toBe(0);
      expect(result.stdout.toString()).toBe('awake\n');
      const events = await world.api.call('listEvents', { query: { tenant: 'acme', last: 5 } });
      expect(events.map((e) => `${e.action}:${e.actor}`)).toEqual(
        expect.arrayContaining(['instance.wake:admin:admin', 'instance.exec:admin:admin']),
      );
    });

    it('refuses a stopped instance with a conflict (exit 5) and a hint', async () => {
      const params = { tenant: 'acme', pool: 'web', instance: world.instance };
      await world.api.call('instanceAction', { params, body: { action: 'stop' } });
      const run = await exec(['true']);
      expect(run.code).toBe(5);
      expect(run.stderr).toMatch(/is stopped: start it with 'mvm instance start/);
      await world.api.call('instanceAction', { params, body: { action: 'start' } });
    });

    it('comes back through a new tunnel after the coordinator restarts', async () => {
      const before = world.tunnel.connections;
      await world.restartCoordinator();
      await until('the tunnel again', () =>
        world.tunnel.connected && world.tunnel.connections > before ? true : undefined,
      );
      const run = await exec(['echo', 'again']);
      expect(run.stdout.toString()).toBe('again\n');
    });
  });
}
