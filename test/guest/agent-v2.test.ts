/**
 * The version-2 guest agent (the real static binary, compiled as the image builder does) and
 * the host client, over a unix socket on the host: the anchors' acceptance list without a VM.
 * test/guest/agent-v2-qemu.test.ts runs the same kinds of cases inside a real guest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/contract/guest-protocol-v2.ts';
import {
  FrameDecoder,
  encodeFrame,
  encodeJsonFrame,
} from '../../src/drivers/guest-channel/frame-codec.ts';
import type { Frame } from '../../src/drivers/guest-channel/frame-codec.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import { alive, startHostAgent } from '../support/host-agent.ts';
import type { HostAgent } from '../support/host-agent.ts';
import { collect, execText, sha256Of } from '../support/exec-output.ts';
import { until } from '../support/until.ts';

let agent: HostAgent;
let client: GuestAgentClient;
const runner = new NodeProcessRunner();

beforeAll(async () => {
  agent = await startHostAgent();
  client = new GuestAgentClient(unixSocketTransport(agent.socket), { requestTimeoutMs: 5_000 });
}, 120_000);
afterAll(async () => {
  client.close();
  await agent.stop();
});

describe('guest agent v2 on the host', () => {
  it('says hello with its version and capabilities', async () => {
    const info = await client.waitReady(5_000);
    expect(info).toMatchObject({ proto: 2, agent: 'mvm-agent' });
    expect(info.caps).toEqual(expect.arrayContaining(['exec', 'pty', 'files', 'drain']));
  });

  it('answers a missing command with 127 at once, a denied one with 126', async () => {
    const started = Date.now();
    const missing = await execText(client, { argv: ['/nonexistent'] });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(missing.exit).toEqual({ code: 127, timedOut: false });
    expect(missing.stderr).toMatch(/nonexistent: No such file or directory/);
    expect((await execText(client, { argv: ['/etc/passwd'] })).exit.code).toBe(126);
  });

  it('reports exit codes and signals', async () => {
    expect((await execText(client, { argv: ['sh', '-c', 'exit 7'] })).exit.code).toBe(7);
    const killed = await execText(client, { argv: ['sh', '-c', 'kill -9 $$'] });
    expect(killed.exit).toEqual({ code: 137, signal: 'KILL', timedOut: false });
  });

  it('reports the exit while a background child still holds the pipes', async () => {
    const started = Date.now();
    const result = await execText(client, { argv: ['sh', '-c', 'sleep 600 & echo bg'] });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result).toMatchObject({ stdout: 'bg\n', exit: { code: 0 } });
  });

  it('a timeout kills the whole process group and says so (124)', async () => {
    const started = Date.now();
    const marker = `mvm-timeout-${process.pid}`;
    const result = await execText(client, {
      argv: ['sh', '-c', `sleep 60 & echo $! > /tmp/${marker}; sleep 61`],
      timeoutMs: 500,
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(result.exit).toEqual({ code: 124, signal: 'TERM', timedOut: true });
    const child = Number((await readFile(`/tmp/${marker}`, 'utf8')).trim());
    await rm(`/tmp/${marker}`, { force: true });
    await until('the background sleep to be gone', () => (alive(child) ? undefined : true), 3_000);
  });

  it('streams 8 MiB byte-exact while the host holds at most its window', async () => {
    const file = `/tmp/mvm-8m-${process.pid}`;
    const exec = await client.exec(
      {
        argv: [
          'sh',
          '-c',
          `head -c 8388608 /dev/urandom >${file}; cat ${file}; sha256sum ${file} >&2; rm ${file}`,
        ],
      },
      { windowBytes: 256 * 1024 },
    );
    let most = 0;
    const hash = createHash('sha256');
    let bytes = 0;
    const digest = collect(exec.stderr);
    for await (const chunk of exec.stdout as AsyncIterable<Buffer>) {
      most = Math.max(most, exec.stdout.readableLength + chunk.length);
      hash.update(chunk);
      bytes += chunk.length;
      // A slow reader: the guest must wait for credit instead of piling bytes up here.
      if (bytes % (1024 * 1024) < chunk.length) await new Promise((r) => setTimeout(r, 20));
    }
    expect(bytes).toBe(8388608);
    expect((await digest).toString()).toContain(hash.digest('hex'));
    expect(most).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
    expect(await exec.exit).toMatchObject({ code: 0 });
  });

  it('pipes 1 MiB of stdin through cat unchanged', async () => {
    const input = randomBytes(1024 * 1024);
    const exec = await client.exec({ argv: ['cat'] }, { stdin: Readable.from([input]) });
    const out = await collect(exec.stdout);
    expect(sha256Of(out)).toBe(sha256Of(input));
    expect((await exec.exit).code).toBe(0);
  });

  it('runs with env, cwd and another user', async () => {
    const result = await execText(client, {
      argv: ['sh', '-c', 'echo "$GREETING $(pwd) $(id -u)"'],
      env: { GREETING: 'hi' },
      cwd: '/tmp',
      user: 'nobody',
    });
    expect(result.stdout).toBe('hi /tmp 65534\n');
    await expect(client.exec({ argv: ['true'], user: 'no-such-user' })).rejects.toThrow(
      /unknown user 'no-such-user'/,
    );
  });

  it('gives a pty whose size follows resize', async () => {
    const pty = await client.openPty({ argv: ['sh'], cols: 80, rows: 24 });
    const seen: Buffer[] = [];
    pty.output.on('data', (chunk: Buffer) => seen.push(chunk));
    await pty.resize(120, 40);
    pty.input.write('stty size; tty; exit 3\n');
    expect((await pty.exit).code).toBe(3);
    const text = Buffer.concat(seen).toString();
    expect(text).toContain('40 120');
    expect(text).toMatch(/\/dev\/pts\/\d+/);
  });

  it('runs 25 commands at once, each with exactly one exit', async () => {
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        execText(client, { argv: ['sh', '-c', `sleep 0.$((${i} % 3)); echo ${i}; exit ${i}`] }),
      ),
    );
    results.forEach((result, i) => {
      expect(result.stdout).toBe(`${i}\n`);
      expect(result.exit.code).toBe(i);
    });
  });

  it('a hung command blocks neither status nor sleep-prep, which reports it busy', async () => {
    const hung = await client.exec({ argv: ['sleep', '30'] });
    const started = Date.now();
    const status = await client.status(2_000);
    expect(status.busy?.sessions).toBe(1);
    const drain = await client.sleepPrep(300);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(drain).toMatchObject({ drained: false, busy: { sessions: 1, commands: ['sleep'] } });
    await hung.signal('KILL');
    expect((await hung.exit).signal).toBe('KILL');
    expect((await client.sleepPrep(300)).drained).toBe(true);
  });

  it('sleep-prep waits for in-flight work to finish within its deadline', async () => {
    const short = await client.exec({ argv: ['sleep', '0.4'] });
    const started = Date.now();
    const drain = await client.sleepPrep(5_000);
    expect(drain.drained).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((await short.exit).code).toBe(0);
  });

  it("the workload's busy flag holds off a drain until cleared", async () => {
    const env = { MVM_STATE_DIR: agent.stateDir };
    await runner.run(agent.binary, ['busy', 'on', 'batch-7'], { env });
    expect(await client.sleepPrep(200)).toMatchObject({
      drained: false,
      busy: { flags: ['batch-7'] },
    });
    await runner.run(agent.binary, ['busy', 'off', 'batch-7'], { env });
    expect((await client.sleepPrep(200)).drained).toBe(true);
    const bad = await runner.run(agent.binary, ['busy', 'on', '../x'], { env, check: false });
    expect(bad.exitCode).toBe(2);
  });

  it('puts and gets files with their mode, byte-exact, atomically renamed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-files-'));
    try {
      const content = randomBytes(1024 * 1024 + 7);
      const target = join(dir, 'blob.bin');
      expect(await client.putFile(target, Readable.from([content]), { mode: 0o600 })).toEqual({
        bytes: content.length,
      });
      expect((await stat(target)).mode & 0o7777).toBe(0o600);
      expect(sha256Of(await readFile(target))).toBe(sha256Of(content));
      const got = await client.getFile(target);
      expect(got).toMatchObject({ size: content.length, mode: 0o600 });
      expect(sha256Of(await collect(got.content))).toBe(sha256Of(content));
      expect(await got.done).toEqual({ bytes: content.length });
      await expect(client.getFile(join(dir, 'missing'))).rejects.toThrow(/not found/);
      await expect(client.putFile(join(dir, 'no/dir/x'), 'x')).rejects.toThrow(/cannot create/);
      await writeFile(join(dir, 'keep'), 'old');
      expect((await client.putFile(join(dir, 'keep'), 'new')).bytes).toBe(3);
      expect(await readFile(join(dir, 'keep'), 'utf8')).toBe('new');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a put whose source fails is cancelled and leaves no temporary file behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-cancel-'));
    try {
      const source = new Readable({ read() {} });
      source.push(randomBytes(1000));
      const put = client.putFile(join(dir, 'half'), source);
      setTimeout(() => source.destroy(new Error('disk on fire')), 100);
      await expect(put).rejects.toThrow(/disk on fire/);
      await until(
        'the temporary file to go',
        async () => {
          const left = await readdir(dir);
          return left.length === 0 ? true : undefined;
        },
        3_000,
        20,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a host that goes away takes its commands with it; the next host is served', async () => {
    const other = new GuestAgentClient(unixSocketTransport(agent.socket));
    const exec = await other.exec({ argv: ['sleep', '300'] });
    other.close();
    await expect(exec.exit).rejects.toThrow(/closed/);
    await until(
      'the orphaned command to be killed',
      () => (alive(exec.pid) ? undefined : true),
      5_000,
    );
    expect((await execText(client, { argv: ['echo', 'still here'] })).stdout).toBe('still here\n');
  });
});

describe('guest agent v2 framing against bad input', () => {
  let socket: Socket;
  const frames: Frame[] = [];
  let decoder = new FrameDecoder();
  let framesMode = false;
  let lines = '';

  beforeAll(async () => {
    socket = connect(agent.socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('data', (chunk: Buffer) => {
      if (framesMode) {
        frames.push(...decoder.push(chunk));
        return;
      }
      lines += chunk.toString('latin1');
      const nl = lines.indexOf('\n');
      if (nl < 0 || !lines.includes('"proto"')) return;
      framesMode = true;
      const rest = Buffer.from(lines.slice(nl + 1), 'latin1');
      if (rest.length) frames.push(...decoder.push(rest));
    });
  });
  afterAll(() => socket.destroy());

  async function next(stream: number): Promise<Record<string, unknown>> {
    const frame = await until(
      `a frame on stream ${stream}`,
      () => {
        const i = frames.findIndex((f) => f.stream === stream);
        return i < 0 ? undefined : frames.splice(i, 1)[0];
      },
      5_000,
      10,
    );
    return JSON.parse(frame.payload.toString()) as Record<string, unknown>;
  }

  async function hello(id: number): Promise<void> {
    framesMode = false;
    decoder = new FrameDecoder();
    lines = '';
    socket.write(`{"id":${id},"op":"hello","proto":2}\n`);
    await until('the hello answer', () => (framesMode ? true : undefined), 5_000, 10);
    expect(lines).toContain(`"id":${id}`);
  }

  it('answers version-1 lines, then frames after hello', async () => {
    socket.write('{"id":3,"op":"ping"}\n');
    await until(
      'the ping line',
      () => (lines.includes('"ready":true') ? true : undefined),
      5_000,
      10,
    );
    await hello(4);
  });

  it('bad JSON, an unknown frame type and an unknown op get errors; the channel stays usable', async () => {
    socket.write(encodeFrame(FrameType.req, 10, Buffer.from('{"op":')));
    expect(await next(10)).toMatchObject({ ok: false, code: 'bad_request' });
    socket.write(encodeFrame(42, 11, Buffer.from('x')));
    expect(await next(11)).toMatchObject({ ok: false, code: 'bad_frame' });
    socket.write(encodeJsonFrame(FrameType.req, 12, { op: 'format-disk' }));
    expect(await next(12)).toMatchObject({ ok: false, code: 'unknown_op' });
    socket.write(encodeFrame(FrameType.stdin, 999, Buffer.from('for nobody')));
    socket.write(encodeJsonFrame(FrameType.req, 13, { op: 'ping' }));
    expect(await next(13)).toMatchObject({ ok: true, ready: true });
  });

  it('a broken header gets an error; a new hello restores the channel', async () => {
    socket.write(Buffer.alloc(10, 0x41));
    expect(await next(0)).toMatchObject({ ok: false, code: 'bad_frame' });
    await hello(20);
    socket.write(encodeJsonFrame(FrameType.req, 21, { op: 'ping' }));
    expect(await next(21)).toMatchObject({ ok: true });
  });

  it('half a frame from a vanished host is given up after 2 s and the hello inside it found', async () => {
    const partial = encodeJsonFrame(FrameType.req, 30, { op: 'ping', pad: 'x'.repeat(100) });
    socket.write(partial.subarray(0, 40));
    framesMode = false;
    decoder = new FrameDecoder();
    lines = '';
    const started = Date.now();
    socket.write('{"id":31,"op":"hello","proto":2}\n');
    await until('the hello answer', () => (framesMode ? true : undefined), 6_000, 20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(lines).toContain('"id":31');
  });
});
