/**
 * The Firecracker path to the guest agent, short of the guest kernel's AF_VSOCK (no guest
 * boots under Firecracker on this host, and it has no vhost-vsock for QEMU): the agent binary
 * of the dev image's init drive, dumped from its ext4 without mounting it, runs with the
 * arguments its init gives it, the vsock port swapped for a Unix socket (the same serve loop
 * accepts both), and a stand-in for Firecracker's vsock muxer performs the
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
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { execText } from '../support/exec-output.ts';
import { vsockTransport } from '../../src/drivers/guest-channel/vsock-transport.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { devImage, testRunner } from '../support/qemu-guest.ts';

const INIT = fileURLToPath(new URL('../../images/dev/mvm-init', import.meta.url));

/** The agent command of the image's init, with its vsock port swapped for a Unix socket. */
async function listenerArgs(socketPath: string): Promise<{ port: number; args: string[] }> {
  const init = await readFile(INIT, 'utf8');
  const line = /set -- \/mvm\/bin\/mvm-agent (serve[^;\n]*--vsock (\d+))/.exec(init);
  if (!line?.[1] || !line[2]) throw new Error('no vsock listener in init');
  const args = line[1].trim().split(/\s+/);
  const at = args.indexOf('--vsock');
  args.splice(at, 2, '--unix', socketPath);
  // Only the vsock listener: the virtio-serial port does not exist on the host.
  const port = args.indexOf('--port');
  if (port >= 0) args.splice(port, 2);
  return { port: Number(line[2]), args };
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
  let client: GuestAgentClient | undefined;

  beforeAll(async () => {
    const image = await devImage();
    dir = await mkdtemp(join(tmpdir(), 'mvm-vsock-'));
    root = join(dir, 'mvm');
    await testRunner.run('mkdir', ['-p', root]);
    await testRunner.run('debugfs', ['-R', `rdump / ${root}`, image.initDrive]);
    const guestSocket = join(dir, 'agent.sock');
    const { port, args } = await listenerArgs(guestSocket);
    listener = spawn(join(root, 'bin', 'mvm-agent'), args, {
      env: { MVM_STATE_DIR: join(dir, 'state') },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
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
        what: 'the vsock listener of the init drive',
      },
    );
    muxer = await fakeVsockMuxer(join(dir, 'v.sock'), new Map([[port, guestSocket]]));
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await new Promise<void>((resolve) => (muxer ? muxer.close(() => resolve()) : resolve()));
    listener?.kill('SIGTERM');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('listens on the port the host dials', async () => {
    expect((await listenerArgs('/x')).port).toBe(GUEST_AGENT_VSOCK_PORT);
  });

  it('says hello, runs a command and drains through the CONNECT handshake', async () => {
    client = new GuestAgentClient(vsockTransport(join(dir, 'v.sock'), GUEST_AGENT_VSOCK_PORT));
    expect(await client.waitReady(10_000)).toMatchObject({ proto: 2 });
    const status = await client.status();
    expect(status.uptime_s).toBeGreaterThan(0);
    expect(status.boot_id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await execText(client, { argv: ['echo', 'over vsock'] })).stdout).toBe('over vsock\n');
    expect(await client.sleepPrep(1_000)).toMatchObject({ ok: true, drained: true });
  });

  it('serves each connection on its own: a second client works beside the first', async () => {
    const second = new GuestAgentClient(
      vsockTransport(join(dir, 'v.sock'), GUEST_AGENT_VSOCK_PORT),
    );
    try {
      await second.waitReady(10_000);
      const running = await client!.exec({ argv: ['sleep', '30'] });
      expect(await second.ping()).toMatchObject({ ok: true });
      // The first connection's command is busy work for the second one's drain too.
      expect((await second.sleepPrep(100)).busy.commands).toEqual(['sleep']);
      await running.signal('KILL');
      await running.exit;
    } finally {
      second.close();
    }
  });

  it('a port nobody listens on is refused with a clear error', async () => {
    const other = new GuestAgentClient(vsockTransport(join(dir, 'v.sock'), 5200), {
      connectTimeoutMs: 500,
    });
    try {
      await expect(other.ping(500)).rejects.toThrow(/vsock CONNECT 5200/);
    } finally {
      other.close();
    }
  });
});
