/**
 * The Firecracker path to the guest agent, short of the guest kernel's AF_VSOCK (no guest
 * boots under Firecracker on this host, and it has no vhost-vsock for QEMU): the dev image's
 * own rootfs, dumped from its ext4 without mounting it, runs the listener line of its
 * /sbin/init in a chroot with the image's socat and libraries — listening on a Unix socket
 * instead of vsock — and a stand-in for Firecracker's vsock muxer performs the
 * `CONNECT <port>` / `OK <port>` exchange in front of it. The host's real vsock transport and
 * guest client then talk to the agent through it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUEST_AGENT_VSOCK_PORT } from '../../src/contract/guest-protocol.ts';
import { GuestClient } from '../../src/drivers/guest-channel/guest-client.ts';
import { vsockTransport } from '../../src/drivers/guest-channel/vsock-transport.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { devImage, testRunner } from '../support/qemu-guest.ts';

const INIT = fileURLToPath(new URL('../../images/dev/rootfs-init', import.meta.url));

/** The socat command line of the image's init, with its vsock address made a Unix socket. */
async function listenerArgs(socketPath: string): Promise<string[]> {
  const init = await readFile(INIT, 'utf8');
  const port = /^VSOCK_PORT=(\d+)$/m.exec(init)?.[1];
  const line = /^\s*socat "VSOCK-LISTEN:\$VSOCK_PORT,([^"]*)" EXEC:"([^"]+)"$/m.exec(init);
  if (port === undefined || !line?.[1] || !line[2]) throw new Error('no vsock listener in init');
  return [String(port), `UNIX-LISTEN:${socketPath},${line[1]}`, `EXEC:${line[2]}`];
}

/** Firecracker's side of hybrid vsock: `CONNECT <port>` picks the guest listener to splice to. */
function fakeVsockMuxer(path: string, listeners: Map<number, string>): Promise<Server> {
  const server = createServer((host: Socket) => {
    host.once('data', (chunk) => {
      const port = Number(/^CONNECT (\d+)\n/.exec(chunk.toString('utf8'))?.[1]);
      const target = listeners.get(port);
      if (target === undefined) {
        host.destroy();
        return;
      }
      const guest = createConnection(target, () => {
        host.write('OK 1073741824\n');
        host.pipe(guest).pipe(host);
      });
      guest.on('error', () => host.destroy());
      host.on('error', () => guest.destroy());
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe('guest agent over the vsock path of the dev image', () => {
  let dir: string;
  let root: string;
  let listener: ChildProcess | undefined;
  let muxer: Server | undefined;
  let client: GuestClient | undefined;

  beforeAll(async () => {
    const image = await devImage();
    dir = await mkdtemp(join(tmpdir(), 'mvm-vsock-'));
    root = join(dir, 'root');
    await testRunner.run('mkdir', ['-p', root]);
    await testRunner.run('debugfs', ['-R', `rdump / ${root}`, image.rootfs]);
    const [port, listen, exec] = await listenerArgs('/tmp/agent.sock');
    // A private mount namespace gives the chroot its own /proc and takes it away at exit.
    listener = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'chroot',
        root,
        '/bin/sh',
        '-c',
        'mount -t proc proc /proc && exec /bin/socat "$0" "$1"',
        listen ?? '',
        exec ?? '',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const guestSocket = join(root, 'tmp', 'agent.sock');
    await waitUntil(
      () =>
        stat(guestSocket).then(
          (s) => s.isSocket(),
          () => false,
        ),
      {
        clock: systemClock,
        timeoutMs: 10_000,
        intervalMs: 50,
        what: 'the socat listener of the rootfs',
      },
    );
    muxer = await fakeVsockMuxer(join(dir, 'v.sock'), new Map([[Number(port), guestSocket]]));
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await new Promise<void>((resolve) => (muxer ? muxer.close(() => resolve()) : resolve()));
    listener?.kill('SIGTERM');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('listens on the port the host dials', async () => {
    const [port] = await listenerArgs('/x');
    expect(Number(port)).toBe(GUEST_AGENT_VSOCK_PORT);
  });

  it('answers ping, status and sleep-prep through the CONNECT handshake', async () => {
    client = new GuestClient(vsockTransport(join(dir, 'v.sock'), GUEST_AGENT_VSOCK_PORT));
    await client.waitReady(10_000);
    expect(await client.ping()).toMatchObject({ ok: true, ready: true });
    const status = await client.status();
    expect(status.uptime_s).toBeGreaterThan(0);
    expect(status.boot_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await client.sleepPrep()).toMatchObject({ ok: true, drained: true });
  });

  it('serves each connection with its own agent: a second client works beside the first', async () => {
    const second = new GuestClient(vsockTransport(join(dir, 'v.sock'), GUEST_AGENT_VSOCK_PORT));
    try {
      await second.waitReady(10_000);
      expect(await second.ping()).toMatchObject({ ok: true });
      expect(await client?.ping()).toMatchObject({ ok: true });
    } finally {
      second.close();
    }
  });

  it('a port nobody listens on is refused with a clear error', async () => {
    const other = new GuestClient(vsockTransport(join(dir, 'v.sock'), 5200), {
      connectTimeoutMs: 500,
    });
    try {
      await expect(other.ping(500)).rejects.toThrow(/vsock CONNECT 5200/);
    } finally {
      other.close();
    }
  });
});
