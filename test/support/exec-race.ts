/**
 * The race behind "an exec exits 0 with its stdout lost": the guest's answer, its output and
 * its exit arriving in ONE read of the channel. Under TCG that happens by chance (about one
 * exec in 150); here the host's event loop is held while the guest runs the command, so it
 * happens every time: the request is on the wire, the host reads nothing for `holdMs`, then
 * finds everything in one read.
 */
import type { Socket } from 'node:net';
import type { ExecExit, ExecRequest } from '../../src/contract/guest-protocol-v2.ts';
import type { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { openUnix } from '../../src/drivers/guest-channel/guest-transport.ts';
import type { GuestTransport } from '../../src/drivers/guest-channel/guest-transport.ts';

/** A unix-socket transport (as for QEMU's chardev) that keeps the socket it opened last. */
export function watchedTransport(path: string): GuestTransport & { socket(): Socket } {
  let last: Socket | undefined;
  return {
    describe: path,
    open: async (timeoutMs) => (last = await openUnix(path, timeoutMs)),
    socket: () => {
      if (!last) throw new Error('the transport has not opened a socket yet');
      return last;
    },
  };
}

/** Blocks this thread (and so the event loop: nothing is read) for `ms`. */
export function holdEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `start` until it has written its request on `socket` (microtasks only: no I/O can be
 * read meanwhile), then holds the event loop for `holdMs`.
 */
export async function sendThenHold<T>(
  socket: Socket,
  start: () => Promise<T>,
  holdMs: number,
): Promise<T> {
  const before = socket.bytesWritten;
  const pending = start();
  for (let turns = 0; socket.bytesWritten === before; turns += 1) {
    if (turns > 1_000) throw new Error('the request was not written within 1000 microtasks');
    await Promise.resolve();
  }
  holdEventLoop(holdMs);
  return pending;
}

/**
 * The way a caller reads a command: `data` listeners attached once `exec` resolves, then
 * `await exit` and use what they collected (test/support/guest-memory.ts does this). With
 * `hold`, the answer, output and exit are made to arrive in one read (sendThenHold).
 */
export async function listenThenAwaitExit(
  client: GuestAgentClient,
  request: ExecRequest,
  hold?: { socket: Socket; ms: number },
): Promise<{ stdout: string; stderr: string; exit: ExecExit }> {
  const start = (): ReturnType<GuestAgentClient['exec']> => client.exec(request);
  const run = await (hold ? sendThenHold(hold.socket, start, hold.ms) : start());
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  run.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  run.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const exit = await run.exit;
  return {
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    exit,
  };
}
