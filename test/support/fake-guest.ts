/**
 * A guest agent that says what a test wants, on a real unix socket (as QEMU's virtio-serial
 * chardev offers one): it answers hello, then hands each request frame the host sends, with
 * its stream, to the test's script. The host's parser is what is
 * under test; this side only speaks bytes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeGuestScript {
  /** The hello answer line (default: a version-2 agent with exec). */
  hello?: (id: number) => string;
  /** Bytes sent before the hello answer (stale output, or a never-ending line). */
  beforeHello?: (socket: Socket) => Promise<void> | void;
  /** Called once the hello answer is sent (a version-1 guest speaks lines from here). */
  afterHello?: (socket: Socket) => void;
  /** Called with each request frame the host sends, and its stream id. */
  onRequest?: (socket: Socket, request: { stream: number; body: Record<string, unknown> }) => void;
}

export interface FakeGuest {
  path: string;
  /** Connections the host opened so far. */
  connections: number;
  close(): Promise<void>;
}

export function v2Hello(id: number): string {
  const caps = ['status', 'wake', 'drives', 'drain', 'exec', 'exec.stream'];
  return `${JSON.stringify({
    id,
    ok: true,
    proto: 2,
    agent: 'fake',
    version: '0',
    caps,
    max_frame_in: 32_768,
    max_frame_out: 65_536,
    boot_id: 'fake',
  })}\n`;
}

export function frame(type: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(10);
  header[0] = 0xb7;
  header[1] = type;
  header.writeUInt32BE(stream >>> 0, 2);
  header.writeUInt32BE(payload.length, 6);
  return Buffer.concat([header, payload]);
}

export async function startFakeGuest(script: FakeGuestScript): Promise<FakeGuest> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-fakeg-'));
  const path = join(dir, 'guest.sock');
  const sockets = new Set<Socket>();
  const guest: FakeGuest = { path, connections: 0, close: () => close(server, sockets, dir) };
  const server = createServer((socket) => {
    guest.connections += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    serve(socket, script);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return guest;
}

function serve(socket: Socket, script: FakeGuestScript): void {
  let received = Buffer.alloc(0);
  let greeted = false;
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    if (!greeted) {
      const nl = received.indexOf(0x0a);
      if (nl < 0) return;
      const { id } = JSON.parse(received.subarray(0, nl).toString('utf8')) as { id: number };
      greeted = true;
      received = received.subarray(nl + 1);
      void Promise.resolve(script.beforeHello?.(socket)).then(() => {
        if (!socket.destroyed) socket.write((script.hello ?? v2Hello)(id));
        script.afterHello?.(socket);
      });
    }
    while (script.onRequest && received.length >= 10) {
      const length = received.readUInt32BE(6);
      if (received.length < 10 + length) return;
      const stream = received.readUInt32BE(2);
      const text = received.subarray(10, 10 + length).toString('utf8');
      received = received.subarray(10 + length);
      script.onRequest(socket, { stream, body: JSON.parse(text) as Record<string, unknown> });
    }
  });
}

async function close(server: Server, sockets: Set<Socket>, dir: string): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
}
