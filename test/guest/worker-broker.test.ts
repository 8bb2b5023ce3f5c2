/**
 * `mvm-worker broker` and `mvm-worker exec` (src/guest/agent/worker.c), the real binary on this
 * host, with the test playing the host agent's side of the frames (docs/openclaw.md, "Worker
 * exec"): each client's request, stdin and EOF arrive under its own id; output, exit and
 * errors go back to the right client; a client that does not read holds up no other; a client
 * that goes away is reported.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerFrame } from '../../src/contract/worker-exec.ts';
import { encodeWorkerFrame, workerFrames } from '../../src/agent/worker-exec/worker-frames.ts';
import { DEFAULT_CACHE_DIR } from '../../src/drivers/dev-image/cache-dir.ts';
import { ensureGuestAgent } from '../../src/drivers/dev-image/guest-agent-binary.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';

const runner = new NodeProcessRunner();

describe('mvm-worker broker and exec', () => {
  let dir: string;
  let worker: string;
  let broker: ChildProcessWithoutNullStreams;
  let frames: AsyncGenerator<{ type: number; id: number; payload: Buffer }>;
  let env: NodeJS.ProcessEnv;
  const next = async () => {
    const { value, done } = await frames.next();
    if (done) throw new Error('the broker ended');
    return { type: value.type, id: value.id, payload: value.payload.toString('utf8') };
  };
  const send = (type: number, id: number, payload = '') =>
    broker.stdin.write(encodeWorkerFrame(type, id, Buffer.from(payload)));
  const client = (args: string[], stdin: 'pipe' | 'ignore' = 'ignore') =>
    spawn(worker, ['exec', ...args], { env, stdio: [stdin, 'pipe', 'pipe'] });
  const ended = (child: ReturnType<typeof client>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-sandbox-wb-'));
    const agent = await ensureGuestAgent(process.env['MVM_CACHE_DIR'] ?? DEFAULT_CACHE_DIR, runner);
    worker = join(dir, 'mvm-worker');
    await symlink(agent.path, worker);
    env = { ...process.env, MVM_WORKER_SOCKET: join(dir, 'w.sock') };
    broker = spawn(worker, ['broker'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    frames = workerFrames(broker.stdout);
    // Listening once a client's request arrives.
    for (;;) {
      const probe = ended(client(['--', 'true']));
      const r = await Promise.race([probe, next().then(() => undefined)]);
      if (r === undefined) {
        await next(); // its EOF
        break;
      }
    }
  }, 120_000);
  afterAll(async () => {
    broker?.stdin.end();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('carries a request, stdin and EOF up, and output and the exit status down', async () => {
    const child = client(['--worker', 'agent:main:main', '--cwd', '/tmp', '--', 'cat'], 'pipe');
    const done = ended(child);
    const open = await next();
    expect(open.type).toBe(WorkerFrame.open);
    expect(JSON.parse(open.payload)).toEqual({
      argv: ['cat'],
      worker: 'agent:main:main',
      cwd: '/tmp',
    });
    child.stdin?.end('to the worker');
    expect(await next()).toEqual({
      type: WorkerFrame.stdin,
      id: open.id,
      payload: 'to the worker',
    });
    expect(await next()).toEqual({ type: WorkerFrame.eof, id: open.id, payload: '' });
    send(WorkerFrame.stdout, open.id, 'out\n');
    send(WorkerFrame.stderr, open.id, 'err\n');
    send(WorkerFrame.exit, open.id, '3');
    expect(await done).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('an error ends the command with 125 and the reason', async () => {
    const done = ended(client(['--instance', 'workers/w-9', '--', 'id']));
    const open = await next();
    await next(); // EOF of an ignored stdin
    send(WorkerFrame.error, open.id, "worker 'workers/w-9' not found");
    expect(await done).toEqual({
      code: 125,
      stdout: '',
      stderr: "mvm-worker: worker 'workers/w-9' not found\n",
    });
  });

  it('a client that does not read holds up no other, and still gets all of its output', async () => {
    const slow = client(['--', 'cat'], 'pipe');
    slow.stdout?.pause();
    const slowOpen = await next();
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 32; i++) send(WorkerFrame.stdout, slowOpen.id, big);
    const fast = ended(client(['--', 'echo', 'hi']));
    const fastOpen = await next();
    expect(fastOpen.id).not.toBe(slowOpen.id);
    await next(); // its EOF
    send(WorkerFrame.stdout, fastOpen.id, 'hi\n');
    send(WorkerFrame.exit, fastOpen.id, '0');
    expect(await fast).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
    send(WorkerFrame.exit, slowOpen.id, '0');
    const slowDone = ended(slow);
    slow.stdout?.resume();
    slow.stdin?.end();
    const result = await slowDone;
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(32 * big.length);
  });

  it('tells the host when a client goes away', async () => {
    const child = client(['--', 'sleep', '100'], 'pipe');
    let open = await next();
    while (open.type !== WorkerFrame.open) open = await next();
    expect(JSON.parse(open.payload)).toEqual({ argv: ['sleep', '100'] });
    child.kill('SIGKILL');
    // (Frames of earlier clients may come first.)
    let frame = await next();
    while (frame.type !== WorkerFrame.close || frame.id !== open.id) frame = await next();
    expect(frame).toEqual({ type: WorkerFrame.close, id: open.id, payload: '' });
  });
});
