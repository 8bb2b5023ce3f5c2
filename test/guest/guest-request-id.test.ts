/**
 * Request ids into the guest (docs/api.md, "Request ids"): work done under a request id
 * (request-context.ts) sends it as `rid` to a guest agent that says it takes one (capability
 * `rid`); the real static agent logs it on its console (stderr) and echoes it, which the host
 * logs under that id. A bad id is ignored by the guest; a guest without the capability never
 * gets one. test/e2e/request-id-qemu.test.ts follows one id from `mvm pool scale` into a real
 * guest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/contract/guest-protocol-v2.ts';
import { encodeJsonFrame, FrameDecoder } from '../../src/drivers/guest-channel/frame-codec.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { withRequestId } from '../../src/drivers/request-context.ts';
import type { Logger } from '../../src/ports/logger.ts';
import { frame, startFakeGuest } from '../support/fake-guest.ts';
import { agentBinary } from '../support/host-agent.ts';
import { until } from '../support/until.ts';

interface Line {
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function memoryLogger(lines: Line[]): Logger {
  const push = (obj: object, msg?: string) =>
    lines.push({ obj: obj as Record<string, unknown>, msg });
  return { debug: push, info: push, warn: push, error: push };
}

describe('request ids into the static guest agent', () => {
  let dir: string;
  let child: ChildProcess;
  let socket: string;
  let stderr = '';

  beforeAll(async () => {
    const binary = await agentBinary();
    dir = await mkdtemp(join(tmpdir(), 'mvm-reqid-guest-'));
    socket = join(dir, 'agent.sock');
    child = spawn(binary, ['serve', '--unix', socket], {
      env: { MVM_STATE_DIR: join(dir, 'state'), PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    await until(
      'the agent socket',
      () =>
        stat(socket).then(
          () => true,
          () => undefined,
        ),
      5_000,
    );
  }, 120_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('says it takes request ids, logs one it is sent and echoes it', async () => {
    const lines: Line[] = [];
    const client = new GuestAgentClient(unixSocketTransport(socket), {
      logger: memoryLogger(lines),
      requestTimeoutMs: 5_000,
    });
    try {
      expect((await client.info()).caps).toContain('rid');
      await withRequestId('op-scale.7:a-1', () => client.status());
      await withRequestId('op-drives-2', () => client.drives({}));
      await client.ping();
      const answered = lines.filter((l) => l.msg === 'guest agent answered');
      expect(answered.map((l) => l.obj)).toEqual([
        { requestId: 'op-scale.7:a-1', op: 'status', echoed: true },
        { requestId: 'op-drives-2', op: 'drives', echoed: true },
      ]);
      await until('the console lines', () =>
        stderr.includes('op=drives rid=op-drives-2') ? true : undefined,
      );
      expect(stderr).toContain('mvm-agent: op=status rid=op-scale.7:a-1\n');
      expect(stderr).not.toMatch(/op=ping rid=/);
    } finally {
      client.close();
    }
  });

  it('ignores an id that is not one (no echo, no console line)', async () => {
    const sock = connect(socket);
    const decoder = new FrameDecoder();
    const frames: Record<string, unknown>[] = [];
    let greeted = false;
    let text = '';
    sock.on('data', (chunk: Buffer) => {
      if (!greeted) {
        text += chunk.toString('latin1');
        const nl = text.indexOf('\n');
        if (nl < 0) return;
        greeted = true;
        chunk = Buffer.from(text.slice(nl + 1), 'latin1');
      }
      for (const f of decoder.push(chunk))
        frames.push(JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>);
    });
    try {
      sock.write('{"id":1,"op":"hello","proto":2}\n');
      await until('the hello', () => (greeted ? true : undefined));
      const bad = ['bad id', '-lead', 'x'.repeat(129), 'a"b', 'line\nbreak'];
      bad.forEach((rid, i) =>
        sock.write(encodeJsonFrame(FrameType.req, 10 + i, { op: 'ping', rid })),
      );
      await until('the answers', () => (frames.length === bad.length ? true : undefined));
      for (const answer of frames) {
        expect(answer).toMatchObject({ ok: true, ready: true });
        expect(answer).not.toHaveProperty('rid');
      }
      expect(stderr).not.toMatch(/op=ping rid=/);
    } finally {
      sock.destroy();
    }
  });
});

describe('request ids and a guest agent without the capability', () => {
  it('never sends one', async () => {
    const requests: Record<string, unknown>[] = [];
    const guest = await startFakeGuest({
      onRequest: (sock, { stream, body }) => {
        requests.push(body);
        sock.write(frame(FrameType.resp, stream, Buffer.from('{"ok":true,"ready":true}')));
      },
    });
    const lines: Line[] = [];
    const client = new GuestAgentClient(unixSocketTransport(guest.path), {
      logger: memoryLogger(lines),
      requestTimeoutMs: 5_000,
    });
    try {
      expect((await client.info()).caps).not.toContain('rid');
      await withRequestId('op-old-guest', () => client.ping());
      expect(requests).toEqual([{ op: 'ping' }]);
      expect(lines.filter((l) => l.msg === 'guest agent answered')).toEqual([]);
    } finally {
      client.close();
      await guest.close();
    }
  });
});
