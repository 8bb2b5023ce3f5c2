/**
 * `mvm instance logs` through a real coordinator and a node's tunnel, without a VM: the
 * workload's output through the real static guest agent on this host, the console (--console)
 * from a file this test writes, read by the agent's own console stream (test/e2e/
 * exec-qemu.test.ts reads a real guest's). The last lines, --tail, --follow until ^C, another
 * tenant's 404, each route serving only its own sessions, and a sleeping instance's console
 * read without waking it.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientSession } from '../../src/drivers/exec-tunnel/client-session.ts';
import { openSessionSocket } from '../../src/cli/session/session-socket.ts';
import type { SessionStartInput } from '../../src/contract/exec.ts';
import { sessionStartSchema } from '../../src/contract/exec.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { ADMIN, startExecWorld, type ExecWorld } from '../support/exec-world.ts';
import { until } from '../support/until.ts';

const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`instance logs [${db.name}]`, () => {
    let world: ExecWorld;
    let database: Awaited<ReturnType<typeof db.open>>;

    beforeAll(async () => {
      database = await db.open();
      world = await startExecWorld(database.url);
    }, 120_000);
    afterAll(async () => {
      await world?.close();
      await database?.cleanup();
    });

    const logs = (...argv: string[]) =>
      world.mvm(['instance', 'logs', world.ref, '--console', ...argv]);

    it('prints the last 100 lines, or --tail N, byte-exact', async () => {
      const empty = await logs();
      expect(empty).toMatchObject({ code: 0, stderr: '' });
      expect(empty.stdout.toString()).toBe('');
      await writeFile(world.consoleFile, numbered(1, 150));
      const tail = await logs();
      expect(tail.code).toBe(0);
      expect(tail.stdout.toString()).toBe(numbered(51, 150));
      expect((await logs('--tail', '3')).stdout.toString()).toBe(numbered(148, 150));
      expect((await logs('--tail', '0')).stdout.toString()).toBe('');
      expect((await logs('--tail', '1000')).stdout.toString()).toBe(numbered(1, 150));
      // A last line still being written (no newline yet) is a line.
      await appendFile(world.consoleFile, 'partial');
      expect((await logs('--tail', '2')).stdout.toString()).toBe('line 150\npartial');
      await writeFile(world.consoleFile, numbered(1, 150));
    });

    it('refuses a bad --tail here, sending nothing', async () => {
      const run = await logs('--tail', '-1');
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/--tail/);
    });

    it('--follow prints what the console gets next, until ^C ends it with status 0', async () => {
      let interrupt: (name: string) => void = () => undefined;
      const shutdown = new Promise<string>((resolve) => (interrupt = resolve));
      let seen = '';
      const run = world.mvm(
        ['instance', 'logs', world.ref, '--console', '--tail', '1', '--follow'],
        {
          shutdown,
          onStdout: (chunk) => (seen += chunk.toString()),
        },
      );
      await until('the last line', () => seen.includes('line 150') || undefined, 10_000, 20);
      await appendFile(world.consoleFile, 'after 1\n');
      await until('a line written later', () => seen.includes('after 1') || undefined, 10_000);
      await appendFile(world.consoleFile, 'after 2\n');
      await until('another', () => seen.includes('after 2') || undefined, 10_000);
      interrupt('SIGINT');
      const done = await run;
      expect(done.code).toBe(0);
      expect(done.stdout.toString()).toBe('line 150\nafter 1\nafter 2\n');
      // The node ended its side: no session is left on the tunnel.
      await until('the session ended on the node', () =>
        world.agentLog.some((l) => l.msg === 'session ended') ? true : undefined,
      );
    });

    it("prints the workload's output by default, read through the guest, and follows it", async () => {
      const file = join(world.host.stateDir, 'workload.log');
      await writeFile(file, numbered(1, 20));
      const tail = await world.mvm(['instance', 'logs', world.ref, '--tail', '2']);
      expect(tail).toMatchObject({ code: 0, stderr: '' });
      expect(tail.stdout.toString()).toBe(numbered(19, 20));
      let interrupt: (name: string) => void = () => undefined;
      const shutdown = new Promise<string>((resolve) => (interrupt = resolve));
      let seen = '';
      const run = world.mvm(['instance', 'logs', world.ref, '--tail', '1', '--follow'], {
        shutdown,
        onStdout: (chunk) => (seen += chunk.toString()),
      });
      await until('the last line', () => seen.includes('line 20') || undefined, 10_000, 20);
      await appendFile(file, 'workload said more\n');
      await until('what it wrote next', () => seen.includes('said more') || undefined, 10_000);
      interrupt('SIGINT');
      expect((await run).stdout.toString()).toBe('line 20\nworkload said more\n');
    });

    it("answers another tenant's instance as a missing one: 404, exit 4", async () => {
      const token = world.tokens.acme;
      const own = await world.mvm(['instance', 'logs', world.ref, '--console'], { token });
      expect(own.code).toBe(0);
      const other = await world.mvm(['instance', 'logs', world.rivalRef], { token });
      expect(other.code).toBe(4);
      const missing = await world.mvm(['instance', 'logs', 'nosuch/web/x'], { token });
      expect(other.stderr.replaceAll('rival', 'nosuch')).toBe(missing.stderr);
    });

    it('each route serves its own sessions: no command by the logs route, no logs by exec', async () => {
      const ref = { tenantId: 'acme', poolId: 'web', instanceId: world.instance };
      const attempt = async (route: 'execInstance' | 'instanceLogs', start: SessionStartInput) => {
        const socket = await openSessionSocket(
          { coordinatorUrl: world.url, token: ADMIN },
          ref,
          route,
        );
        const io = { stdout: new PassThrough(), stderr: new PassThrough() };
        const session = new ClientSession(socket, sessionStartSchema.parse(start), io);
        return session.exit.then(
          (exit) => ({ exit, error: undefined }),
          (error: unknown) => {
            const { code, message } = error as { code: string; message: string };
            return { error: { code, message } };
          },
        );
      };
      const exec = await attempt('instanceLogs', { kind: 'exec', argv: ['true'], stdin: false });
      expect(exec).toMatchObject({ error: { code: 'invalid_argument' } });
      expect(exec.error?.message).toMatch(/logs sessions only/);
      const read = await attempt('execInstance', { kind: 'logs', console: true });
      expect(read).toMatchObject({ error: { code: 'invalid_argument' } });
      expect(read.error?.message).toMatch(/logs route/);
      const ok = await attempt('instanceLogs', { kind: 'logs', tail: 1, console: true });
      expect(ok).toMatchObject({ exit: { code: 0 } });
    });

    it('reads a sleeping instance without waking it', async () => {
      const params = { tenant: 'acme', pool: 'web', instance: world.instance };
      await world.api.call('instanceAction', { params, body: { action: 'sleep' } });
      await world.api.call('reportInstanceStatus', {
        params: { node: 'n1', ...params },
        body: { status: 'sleeping' },
      });
      const run = await logs('--tail', '1');
      expect(run.code).toBe(0);
      expect(run.stdout.toString()).toBe('after 2\n');
      const after = await world.api.call('getInstance', { params });
      expect(after).toMatchObject({ desiredStatus: 'sleeping', status: 'sleeping' });
    });
  });
}
