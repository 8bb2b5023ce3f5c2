import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GuestClient } from '../../src/drivers/guest-channel/guest-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { vsockHandshake, vsockTransport } from '../../src/drivers/guest-channel/vsock-transport.ts';

type Responder = (request: { id: number; op: string }, socket: Socket) => void;

/** A fake guest agent: one JSON line per request; `vsock` adds Firecracker's handshake. */
function fakeAgent(path: string, respond: Responder, vsock?: { port: number }): Promise<Server> {
  const server = createServer((socket) => {
    let buffer = '';
    let handshaken = vsock === undefined;
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!handshaken) {
          handshaken = true;
          const ok = line === `CONNECT ${vsock?.port}`;
          // Reply and a first protocol line in one chunk: the client must not lose the latter.
          socket.write(ok ? 'OK 1073741824\n{"id":null,"ok":true}\n' : 'NO\n');
          if (!ok) socket.end();
          continue;
        }
        respond(JSON.parse(line) as { id: number; op: string }, socket);
      }
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

const answer: Responder = (req, socket) => {
  const extra =
    req.op === 'ping'
      ? { ready: true }
      : req.op === 'status'
        ? { uptime_s: 1.5, counter: 3, hostname: 'h', ip: '10.0.0.2', boot_id: 'b-1' }
        : req.op === 'sleep-prep'
          ? { drained: true }
          : {};
  socket.write(`${JSON.stringify({ id: req.id, ok: true, ...extra })}\n`);
};

describe('GuestClient', () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-gc-'));
  });
  afterEach(async () => {
    server?.close();
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('speaks the protocol over a unix socket and validates replies', async () => {
    server = await fakeAgent(join(dir, 'a.sock'), answer);
    const client = new GuestClient(unixSocketTransport(join(dir, 'a.sock')));
    expect(await client.ping()).toMatchObject({ ok: true, ready: true });
    expect(await client.status()).toMatchObject({ counter: 3, boot_id: 'b-1' });
    expect(await client.sleepPrep()).toMatchObject({ drained: true });
    expect(await client.wake(123)).toMatchObject({ ok: true });
    client.close();
  });

  it('correlates out-of-order replies by id and drops strays', async () => {
    const held: Array<{ id: number; op: string }> = [];
    server = await fakeAgent(join(dir, 'a.sock'), (req, socket) => {
      held.push(req);
      if (held.length < 2) return;
      socket.write('{"id":999999,"ok":true,"ready":true}\nnot json\n');
      for (const r of held.reverse()) answer(r, socket);
    });
    const client = new GuestClient(unixSocketTransport(join(dir, 'a.sock')));
    const [ping, status] = await Promise.all([client.ping(), client.status()]);
    expect(ping.ready).toBe(true);
    expect(status.counter).toBe(3);
    client.close();
  });

  it('turns an error reply into a HostError and times out silent requests', async () => {
    server = await fakeAgent(join(dir, 'a.sock'), (req, socket) => {
      if (req.op === 'wake') socket.write(`{"id":${req.id},"ok":false,"error":"unknown op"}\n`);
    });
    const client = new GuestClient(unixSocketTransport(join(dir, 'a.sock')));
    await expect(client.wake()).rejects.toThrow(/refused 'wake': unknown op/);
    await expect(client.ping(100)).rejects.toThrow(/did not answer 'ping' in 100 ms/);
    client.close();
  });

  it('waitReady retries until the agent socket appears', async () => {
    const client = new GuestClient(unixSocketTransport(join(dir, 'late.sock')));
    const ready = client.waitReady(5_000);
    setTimeout(() => {
      void fakeAgent(join(dir, 'late.sock'), answer).then((s) => (server = s));
    }, 200);
    await expect(ready).resolves.toBeUndefined();
    client.close();
  });

  it('waitReady gives up at its deadline', async () => {
    const client = new GuestClient(unixSocketTransport(join(dir, 'never.sock')));
    await expect(client.waitReady(300)).rejects.toThrow(/timed out after 300 ms/);
  });

  it('works over the Firecracker vsock handshake', async () => {
    server = await fakeAgent(join(dir, 'v.sock'), answer, { port: 1024 });
    const client = new GuestClient(vsockTransport(join(dir, 'v.sock'), 1024));
    expect(await client.status()).toMatchObject({ hostname: 'h' });
    client.close();
  });
});

describe('vsockHandshake', () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-vs-'));
  });
  afterEach(async () => {
    server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses when the VMM does not answer OK', async () => {
    server = await fakeAgent(join(dir, 'v.sock'), answer, { port: 1024 });
    const transport = vsockTransport(join(dir, 'v.sock'), 52);
    await expect(transport.open(1_000)).rejects.toThrow(/CONNECT 52 refused: 'NO'/);
  });

  it('times out when nobody answers', async () => {
    server = createServer(() => undefined);
    await new Promise<void>((resolve) => server?.listen(join(dir, 's.sock'), resolve));
    const socket = await unixSocketTransport(join(dir, 's.sock')).open(1_000);
    await expect(vsockHandshake(socket, 1024, 100)).rejects.toThrow(/no answer in 100 ms/);
    socket.destroy();
  });
});
