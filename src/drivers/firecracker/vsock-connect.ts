/**
 * Host-initiated vsock connections through Firecracker's hybrid vsock: connect to the UDS,
 * send `CONNECT <port>\n`, and Firecracker answers `OK <host port>\n` once the guest accepted.
 * After that line the socket is a plain byte stream to the guest. It is returned paused:
 * call `resume()` (or pipe it) once listeners are attached.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { UnavailableError } from '../../core/errors.ts';

/** The reply is one short line; anything longer is not Firecracker speaking. */
const MAX_REPLY_BYTES = 64;

export interface VsockConnectOptions {
  timeoutMs?: number;
}

export function vsockConnect(
  udsPath: string,
  port: number,
  options: VsockConnectOptions = {},
): Promise<Socket> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const socket = connect(udsPath);
    let reply = Buffer.alloc(0);
    const detach = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const fail = (why: string): void => {
      detach();
      socket.destroy();
      reject(
        new UnavailableError(`vsock connect to guest port ${port} via ${udsPath} failed: ${why}`, {
          udsPath,
          port,
        }),
      );
    };
    const onError = (error: Error): void => fail(error.message);
    const onClose = (): void =>
      fail('the connection closed during the handshake (no guest listener on that port?)');
    const onData = (chunk: Buffer): void => {
      reply = Buffer.concat([reply, chunk]);
      const newline = reply.indexOf(0x0a);
      if (newline < 0) {
        if (reply.length > MAX_REPLY_BYTES) fail('malformed handshake reply');
        return;
      }
      const line = reply.subarray(0, newline).toString('utf8');
      if (!/^OK \d+$/.test(line)) return fail(`handshake refused: '${line}'`);
      detach();
      // Paused so that bytes the guest sent right after the handshake wait for the caller.
      socket.pause();
      const rest = reply.subarray(newline + 1);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const timer = setTimeout(
      () => fail(`no answer within ${timeoutMs} ms; is the guest agent listening?`),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => socket.write(`CONNECT ${port}\n`));
  });
}
