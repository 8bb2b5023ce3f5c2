import type { Socket } from 'node:net';
import { HostError } from '../../core/errors.ts';
import { openUnix } from './guest-transport.ts';
import type { GuestTransport } from './guest-transport.ts';

/**
 * Firecracker exposes guest vsock ports through one host UDS: the host writes
 * `CONNECT <port>\n` and Firecracker answers `OK <hostport>\n` once the guest accepted.
 */
export function vsockTransport(udsPath: string, port: number): GuestTransport {
  return {
    describe: `${udsPath} (vsock port ${port})`,
    open: async (timeoutMs) => {
      const socket = await openUnix(udsPath, timeoutMs);
      try {
        await vsockHandshake(socket, port, timeoutMs);
        return socket;
      } catch (error) {
        socket.destroy();
        throw error;
      }
    },
  };
}

/** Performs the CONNECT/OK exchange; bytes after the OK line are put back for the reader. */
export function vsockHandshake(socket: Socket, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      // Hold further bytes until the protocol reader attaches (it resumes the stream).
      socket.pause();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const nl = received.indexOf(0x0a);
      if (nl < 0) return;
      const line = received.subarray(0, nl).toString('utf8').trim();
      const rest = received.subarray(nl + 1);
      if (!/^OK \d+$/.test(line)) {
        done(new HostError(`vsock CONNECT ${port} refused: '${line.slice(0, 80)}'`, { port }));
        return;
      }
      done();
      if (rest.length > 0) socket.unshift(rest);
    };
    const onClose = (): void =>
      done(
        new HostError(`vsock CONNECT ${port}: connection closed (is the guest agent listening?)`),
      );
    const timer = setTimeout(
      () => done(new HostError(`vsock CONNECT ${port}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(`CONNECT ${port}\n`);
  });
}
