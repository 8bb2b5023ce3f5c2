import type { Socket } from 'node:net';
import { HostError, UnavailableError } from '../../core/errors.ts';
import { GUEST_V1_INFO, HelloResponseSchema } from '../../contract/guest-protocol-v2.ts';
import type { GuestAgentInfo } from '../../contract/guest-protocol-v2.ts';
import { findHelloAnswer } from './frame-codec.ts';

/**
 * What the host keeps of a guest's bytes while it looks for the hello answer: the answer line
 * is small, so anything before the last newline already searched, or further back than this
 * from the end, cannot hold it. A guest sending a never-ending line costs this much, not more.
 */
export const HELLO_SCAN_BYTES = 16 * 1024;

/** Says hello on a fresh stream and waits for the answer line (skipping stale bytes). */
export function sayHello(
  socket: Socket,
  id: number,
  timeoutMs: number,
): Promise<{ answer: Record<string, unknown>; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    const done = (error?: Error, found?: ReturnType<typeof findHelloAnswer>): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (found) resolve(found);
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const found = findHelloAnswer(received, id);
      if (found) done(undefined, found);
      else received = unsearched(received);
    };
    const onClose = (): void => done(new UnavailableError('guest channel closed during hello'));
    const timer = setTimeout(
      () => done(new UnavailableError(`no hello answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
    socket.write(`${JSON.stringify({ id, op: 'hello', proto: 2 })}\n`);
  });
}

/** The bytes that may still end in the answer: after the last newline, at most the scan bound. */
function unsearched(bytes: Buffer): Buffer {
  const from = Math.max(bytes.lastIndexOf(0x0a) + 1, bytes.length - HELLO_SCAN_BYTES);
  return from === 0 ? bytes : Buffer.from(bytes.subarray(from));
}

export function helloInfo(answer: Record<string, unknown>): GuestAgentInfo {
  if (answer['ok'] === false) return GUEST_V1_INFO;
  const hello = HelloResponseSchema.safeParse(answer);
  if (!hello.success) {
    throw new HostError(`guest agent sent a malformed hello: ${hello.error.message}`);
  }
  const { proto, agent, version, caps } = hello.data;
  return { proto: proto >= 2 ? 2 : 1, agent, version, caps };
}
