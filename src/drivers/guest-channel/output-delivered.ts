import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

/**
 * Resolves once the output a session's streams already hold has reached their readers: the
 * moment its `exit` (or a get's `done`) may settle. Called right after the streams were ended.
 *
 * Why: a guest's answer, last output and exit often arrive in ONE read of the channel (under
 * TCG about one exec in 150). The frames are pushed into the Readables and the exit is known
 * in the same synchronous pass, but a Readable gives its buffered bytes to a `data` listener
 * only on a later tick. A caller that attaches its listeners once `exec` resolves and then
 * awaits `exit` was resumed (a microtask) before those ticks, and saw an empty stdout with
 * code 0 while the bytes sat in the stream's buffer.
 *
 * So the exit waits one turn of the event loop (readers attached meanwhile are seen), then
 * for the end of every stream somebody reads (a `data` or `readable` listener, a pipe, an
 * async iterator): their bytes are delivered first. A stream nobody reads does not hold the
 * exit, so a caller that reads neither stream still gets it; its bytes stay buffered.
 */
export async function outputDelivered(streams: readonly Readable[]): Promise<void> {
  await nextTurn();
  const read = streams.filter(
    (stream) => !stream.readableEnded && !stream.destroyed && isRead(stream),
  );
  await Promise.all(read.map((stream) => finished(stream).catch(() => undefined)));
}

function isRead(stream: Readable): boolean {
  return (
    stream.readableFlowing === true ||
    stream.listenerCount('data') > 0 ||
    stream.listenerCount('readable') > 0
  );
}
