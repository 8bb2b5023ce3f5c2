/**
 * A virtio-serial port whose host "closes" and "opens" again behind the guest's back: after a
 * restore, QEMU tells the guest "host closed" and then "host open", and the guest may take the
 * host's first bytes (a hello) before it takes the "open". The agent then read the hello,
 * could not write its answer (a port with no host takes no writes), read EOF, and dropped
 * the answer: the host's first hello after about one wake in 40 went unanswered.
 *
 * The real mvm-agent binary on the host, serving a port stand-in made of two FIFOs
 * (`serve --fifo IN OUT`): IN reads EOF while no writer (host) holds it, EAGAIN while one
 * does and is silent, as a port does; OUT is filled up, so the answer cannot be written, as
 * to a port with no host.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/contract/guest-protocol-v2.ts';
import { FrameDecoder, encodeJsonFrame } from '../../src/drivers/guest-channel/frame-codec.ts';
import { agentBinary, alive } from '../support/host-agent.ts';
import { until } from '../support/until.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
});

interface Port {
  /** The host side connects (opens IN for writing) and writes. */
  connect(): void;
  write(data: Uint8Array | string): void;
  /** The host side goes away (closes IN): the agent reads EOF once IN is empty. */
  disconnect(): void;
  /** Everything the agent wrote so far (drains OUT). */
  read(): Buffer;
  /** Fills OUT, so the agent's writes would block, as to a port with no host. */
  fill(): number;
  /** The agent's stderr so far. */
  log(): string;
  agent: ChildProcess;
}

async function startPortAgent(): Promise<Port> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-guestio-port-'));
  const [inPath, outPath] = [join(dir, 'in'), join(dir, 'out')];
  execFileSync('mkfifo', [inPath, outPath]);
  const agent = spawn(await agentBinary(), ['serve', '--fifo', inPath, outPath], {
    env: { MVM_STATE_DIR: join(dir, 'state'), PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  agent.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // The agent opens OUT read-write; once it has, OUT opens for reading without blocking.
  let out = -1;
  await until(
    'the agent to open its FIFOs',
    () => {
      try {
        const w = openSync(inPath, constants.O_WRONLY | constants.O_NONBLOCK);
        closeSync(w); // IN has a reader: the agent is serving (this was a connect and leave)
        out = openSync(outPath, constants.O_RDONLY | constants.O_NONBLOCK);
        return true;
      } catch {
        return undefined;
      }
    },
    10_000,
    20,
  );
  let writer = -1;
  let received = Buffer.alloc(0);
  const port: Port = {
    agent,
    connect: () => {
      writer = openSync(inPath, constants.O_WRONLY | constants.O_NONBLOCK);
    },
    write: (data) => void writeSync(writer, typeof data === 'string' ? Buffer.from(data) : data),
    disconnect: () => {
      closeSync(writer);
      writer = -1;
    },
    read: () => {
      const chunk = Buffer.alloc(64 * 1024);
      for (;;) {
        let n = 0;
        try {
          n = readSync(out, chunk);
        } catch {
          break; // EAGAIN: empty
        }
        if (n <= 0) break;
        received = Buffer.concat([received, chunk.subarray(0, n)]);
      }
      return received;
    },
    fill: () => {
      const w = openSync(outPath, constants.O_WRONLY | constants.O_NONBLOCK);
      let filled = 0;
      try {
        for (;;) filled += writeSync(w, Buffer.alloc(4096, 0x2e));
      } catch {
        // EAGAIN: OUT is full
      } finally {
        closeSync(w);
      }
      return filled;
    },
    log: () => stderr,
  };
  cleanups.push(async () => {
    agent.kill('SIGKILL');
    if (writer >= 0) closeSync(writer);
    closeSync(out);
    await rm(dir, { recursive: true, force: true });
  });
  return port;
}

/** The hello answer in what the agent wrote, and the frames after its line. */
function helloAnswer(bytes: Buffer, id: number): { answer: string; rest: Buffer } | undefined {
  const at = bytes.indexOf(`{"id":${id},`);
  if (at < 0) return undefined;
  const nl = bytes.indexOf(0x0a, at);
  if (nl < 0) return undefined;
  return { answer: bytes.subarray(at, nl).toString(), rest: bytes.subarray(nl + 1) };
}

describe('a port whose host flaps', () => {
  it('answers a hello it read just before a spurious EOF, once the host is back', async () => {
    const port = await startPortAgent();
    const junk = port.fill();
    port.connect();
    port.write('{"id":7,"op":"hello","proto":2}\n');
    // The host goes away at once: the agent reads the hello, then EOF.
    port.disconnect();
    await until(
      'the agent to read EOF after the hello',
      () => (/host side closed|host connection reset/.test(port.log()) ? true : undefined),
      10_000,
      20,
    );
    port.connect();
    const found = await until(
      'the hello answer',
      () => helloAnswer(port.read(), 7),
      10_000,
      50,
    ).catch(() => undefined);
    expect(port.read().length).toBeGreaterThanOrEqual(junk);
    expect(found?.answer).toMatch(/"ok":true,"proto":2/);
    // And the channel is the same host's: a ping on it is answered.
    port.write(encodeJsonFrame(FrameType.req, 3, { op: 'ping' }));
    const pong = await until(
      'the ping answer',
      () => {
        const after = helloAnswer(port.read(), 7)?.rest ?? Buffer.alloc(0);
        return new FrameDecoder().push(after).find((f) => f.stream === 3);
      },
      10_000,
      50,
    );
    expect(pong.payload.toString()).toContain('"ready":true');
  });

  it('a host that stays away still has its commands ended (after the grace)', async () => {
    const port = await startPortAgent();
    const pid = await helloThenSleep(port, 9, '300');
    expect(alive(pid)).toBe(true);
    port.disconnect();
    await until('the command to be ended', () => (alive(pid) ? undefined : true), 15_000, 100);
    expect(port.log()).toContain('host connection reset: host disconnected');
  });

  it("a new host within the grace ends the previous host's commands with its hello", async () => {
    const port = await startPortAgent();
    const pid = await helloThenSleep(port, 11, '301');
    port.disconnect();
    await until(
      'the EOF',
      () => (port.log().includes('host side closed') ? true : undefined),
      10_000,
      20,
    );
    port.connect();
    port.write('{"id":12,"op":"hello","proto":2}\n');
    await until('the new hello answer', () => helloAnswer(port.read(), 12), 10_000, 20);
    await until('the old command to be ended', () => (alive(pid) ? undefined : true), 15_000, 100);
  });
});

/** Connects, says hello (request `helloId`) and starts `sleep seconds` on stream 5: its pid. */
async function helloThenSleep(port: Port, helloId: number, seconds: string): Promise<number> {
  port.connect();
  port.write(`{"id":${helloId},"op":"hello","proto":2}\n`);
  await until('the hello answer', () => helloAnswer(port.read(), helloId), 10_000, 20);
  port.write(encodeJsonFrame(FrameType.req, 5, { op: 'exec', argv: ['sleep', seconds] }));
  const started = await until(
    'the exec answer',
    () => {
      const rest = helloAnswer(port.read(), helloId)?.rest ?? Buffer.alloc(0);
      return new FrameDecoder().push(rest).find((f) => f.stream === 5);
    },
    10_000,
    20,
  );
  return (JSON.parse(started.payload.toString()) as { pid: number }).pid;
}
