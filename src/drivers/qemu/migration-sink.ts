/**
 * The receiving end of a sleep's migration stream. A confined QEMU can neither open a file
 * (it is chrooted) nor run `exec:` (its seccomp filter denies spawning), and Node cannot pass
 * it a descriptor over QMP (no SCM_RIGHTS), so QEMU connects to a unix socket the driver
 * listens on inside QEMU's chroot, owned by the VM's user only, and the driver writes the
 * stream into the state file.
 */
import { createWriteStream } from 'node:fs';
import { chmod, chown, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { HostError } from '../../core/errors.ts';
import type { VmIdentity } from '../../ports/vmm.ts';

export interface MigrationSink {
  /** Resolves with the bytes written once QEMU closed the stream and the file is complete. */
  readonly done: Promise<number>;
  /** Stops listening, drops a connection still open and removes the socket; idempotent. */
  close(): Promise<void>;
}

/** Listens on `socket` (only `owner` and root may connect) and writes one stream to `file`. */
export async function listenForMigration(
  socket: string,
  file: string,
  owner: VmIdentity | undefined,
): Promise<MigrationSink> {
  await rm(socket, { force: true });
  let peer: Socket | undefined;
  let accepted: (connection: Socket) => void = () => undefined;
  const connection = new Promise<Socket>((resolve) => (accepted = resolve));
  const server = createServer({ pauseOnConnect: true }, (conn) => {
    if (peer) {
      conn.destroy();
      return;
    }
    peer = conn;
    accepted(conn);
  });
  await listen(server, socket);
  await chmod(socket, 0o600);
  if (owner) await chown(socket, owner.uid, owner.gid);
  const done = connection.then((conn) => receive(conn, file));
  // Nothing may be left unhandled when the caller gives up before a connection came.
  done.catch(() => undefined);
  const close = async (): Promise<void> => {
    peer?.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(socket, { force: true });
  };
  return { done, close };
}

async function receive(conn: Socket, file: string): Promise<number> {
  const out = createWriteStream(file, { flags: 'w', mode: 0o600, highWaterMark: 1 << 20 });
  try {
    conn.resume();
    await pipeline(conn, out);
  } catch (error) {
    throw new HostError(
      `writing the migration stream to ${file} failed: ${(error as Error).message}`,
      {
        file,
      },
    );
  }
  return out.bytesWritten;
}

function listen(server: Server, socket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error) =>
      reject(new HostError(`cannot listen for a migration stream on ${socket}: ${error.message}`)),
    );
    server.listen(socket, () => resolve());
  });
}
