/**
 * The host agent's relay of a gateway guest's `mvm-worker broker` (docs/openclaw.md, "Worker
 * exec"), with the real broker and client (the guest agent binary, compiled as for the init
 * drive) run on this host in place of a guest, and the relay's exec session a host process.
 * These are the cases the relay settles itself, before the coordinator: malformed or
 * tenant-naming requests are refused with 125 and nothing is opened; a broker breaking the
 * frame protocol is killed. The path through the coordinator into a worker is the QEMU e2e.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecRequest } from '../../src/contract/guest-protocol-v2.ts';
import type { WorkerExecQuery } from '../../src/contract/worker-exec.ts';
import { WorkerBrokerRelay } from '../../src/agent/worker-exec/worker-broker-relay.ts';
import { DEFAULT_CACHE_DIR } from '../../src/drivers/dev-image/cache-dir.ts';
import { ensureGuestAgent } from '../../src/drivers/dev-image/guest-agent-binary.ts';
import type { ExecHandle, ExecOptions } from '../../src/drivers/guest-channel/exec-session.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import { keepingLogger } from '../support/exec-world.ts';
import { until } from '../support/until.ts';

const runner = new NodeProcessRunner();

/** The relay's exec session as a host process: `argv[0]` mapped to `bin`. */
function hostExec(bin: Record<string, string>, env: Record<string, string>) {
  return (request: ExecRequest, options?: ExecOptions): Promise<ExecHandle> => {
    const [command = '', ...args] = request.argv;
    const child = spawn(bin[command] ?? command, args, {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (options?.stdin instanceof Readable) options.stdin.pipe(child.stdin);
    options?.signal?.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
    const exit = new Promise<{ code: number; timedOut: boolean }>((resolve) =>
      child.once('exit', (code, signal) =>
        resolve({ code: code ?? 128 + (signal ? 9 : 0), timedOut: false }),
      ),
    );
    return Promise.resolve({
      pid: child.pid ?? 0,
      stdout: child.stdout,
      stderr: child.stderr,
      exit,
      signal: async () => void child.kill('SIGKILL'),
    });
  };
}

describe('the worker broker relay, with the real broker on this host', () => {
  let dir: string;
  let worker: string;
  let socket: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-sandbox-broker-'));
    const agent = await ensureGuestAgent(process.env['MVM_CACHE_DIR'] ?? DEFAULT_CACHE_DIR, runner);
    worker = join(dir, 'mvm-worker');
    await symlink(agent.path, worker);
    socket = join(dir, 'worker.sock');
  }, 300_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a malformed or tenant-naming request with 125 and opens nothing', async () => {
    const opened: WorkerExecQuery[] = [];
    const logged: Array<{ msg: string; obj: object }> = [];
    const relay = new WorkerBrokerRelay({
      gateway: { tenantId: 'acme', poolId: 'gw', instanceId: 'gw-1' },
      guest: { exec: hostExec({ '/mvm/bin/mvm-worker': worker }, { MVM_WORKER_SOCKET: socket }) },
      open: (query) => {
        opened.push(query);
        return Promise.reject(new Error('not in this test'));
      },
      logger: keepingLogger(logged),
    });
    const abort = new AbortController();
    const running = relay.run(abort.signal);
    const env = { ...process.env, MVM_WORKER_SOCKET: socket };
    const client = (args: string[]) =>
      runner.run(worker, ['exec', ...args], { env, check: false, timeoutMs: 60_000 });
    await until(
      'the broker listening',
      async () => {
        const r = await client(['--instance', 'acme/workers/w-1', '--', 'id']);
        return r.stderr.includes('no broker') ? undefined : r;
      },
      30_000,
      200,
    );

    // A target naming a tenant, a key with a space, an empty command word: refused here.
    for (const args of [
      ['--instance', 'rival/workers/w-1', '--', 'id'],
      ['--worker', 'a b', '--', 'id'],
      ['--', ''],
    ]) {
      const r = await client(args);
      expect({ args, code: r.exitCode }).toEqual({ args, code: 125 });
      expect(r.stderr).toMatch(/^mvm-worker: invalid worker request: /);
      expect(r.stdout).toBe('');
    }
    // A well-formed one goes to the coordinator (here: refused there, still 125).
    const ok = await client(['--worker', 'agent:main:main', '--', 'hostname']);
    expect(ok.exitCode).toBe(125);
    expect(ok.stderr).toContain('not in this test');
    expect(opened).toEqual([{ worker: 'agent:main:main' }]);
    abort.abort();
    await running;
  }, 120_000);

  it('kills a broker that breaks the frame protocol (a frame past the bound)', async () => {
    const logged: Array<{ msg: string; obj: object }> = [];
    // A hostile broker: a header declaring 64 MiB, then it waits.
    const hostile = join(dir, 'hostile.sh');
    await runner.run('sh', [
      '-c',
      `printf '#!/bin/sh\\nprintf "\\\\001\\\\000\\\\000\\\\000\\\\001\\\\004\\\\000\\\\000\\\\000"\\nexec sleep 60\\n' > ${hostile}; chmod +x ${hostile}`,
    ]);
    const relay = new WorkerBrokerRelay({
      gateway: { tenantId: 'acme', poolId: 'gw', instanceId: 'gw-1' },
      guest: { exec: hostExec({ '/mvm/bin/mvm-worker': hostile }, {}) },
      open: () => Promise.reject(new Error('never')),
      logger: keepingLogger(logged),
    });
    const exit = await relay.run();
    expect(exit.code).not.toBe(0);
    expect(logged.map((l) => l.msg)).toContain('worker broker broke its protocol');
  }, 60_000);
});
