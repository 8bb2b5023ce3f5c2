import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { vsockConnect } from '../../../src/drivers/firecracker/vsock-connect.ts';

/** Plays Firecracker's side of the hybrid vsock handshake. */
function fakeVsock(path: string, reply: (port: string, socket: Socket) => void): Promise<Server> {
  const server = createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      const match = /^CONNECT (\d+)\n/.exec(buffered);
      if (match?.[1] !== undefined) reply(match[1], socket);
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.trim());
    });
    socket.resume();
  });
}

describe('vsockConnect', () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-vsock-'));
  });
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await rm(dir, { recursive: true, force: true });
  });

  it('does the CONNECT/OK handshake and hands over the stream, early bytes included', async () => {
    const uds = join(dir, 'v.sock');
    server = await fakeVsock(uds, (port, socket) => {
      socket.write(`OK 1073741824\nhello from ${port}\n`);
      socket.on('data', (chunk) => socket.write(`echo ${chunk.toString()}`));
    });
    const socket = await vsockConnect(uds, 52);
    expect(await readLine(socket)).toBe('hello from 52');
    socket.destroy();
  });

  it('fails with a clear error when the guest refuses', async () => {
    const uds = join(dir, 'v.sock');
    server = await fakeVsock(uds, (_port, socket) => socket.end());
    await expect(vsockConnect(uds, 52)).rejects.toThrow(
      /guest port 52 .* closed during the handshake/,
    );
  });

  it('fails when nothing listens on the UDS', async () => {
    await expect(vsockConnect(join(dir, 'missing.sock'), 52)).rejects.toThrow(/ENOENT/);
  });

  it('times out when Firecracker never answers', async () => {
    const uds = join(dir, 'v.sock');
    server = await fakeVsock(uds, () => undefined);
    await expect(vsockConnect(uds, 52, { timeoutMs: 100 })).rejects.toThrow(
      /no answer within 100 ms/,
    );
  });
});
