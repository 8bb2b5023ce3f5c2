import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { HostError } from '../../core/errors.ts';

/**
 * How the host reaches a guest agent. The protocol on top is the same for every VMM; only
 * opening the byte stream differs: a plain unix socket (QEMU virtio-serial chardev) or
 * Firecracker's vsock UDS with its CONNECT handshake.
 */
export interface GuestTransport {
  /** For messages: which socket, which port. */
  readonly describe: string;
  /** Opens one stream; rejects at once when nothing listens (callers retry). */
  open(timeoutMs: number): Promise<Socket>;
}

/** QEMU: the virtio-serial port's chardev is a unix socket server; connecting is enough. */
export function unixSocketTransport(path: string): GuestTransport {
  return { describe: path, open: (timeoutMs) => openUnix(path, timeoutMs) };
}

export function openUnix(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new HostError(`connecting to ${path} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new HostError(`cannot connect to ${path}: ${error.message}`, { path }));
    });
  });
}
