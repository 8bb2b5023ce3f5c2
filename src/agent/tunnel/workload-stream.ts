/**
 * The workload's output (docs/exec.md, `mvm instance logs`) as a stream: its last `tail`
 * lines read through the guest agent, then with `follow` what it writes next, read from the
 * position the last read ended at every second until the signal aborts. A read happens only
 * when the stream is read, so a slow client slows the reads, nothing piles up.
 */
import { Readable } from 'node:stream';
import type { WorkloadLogView } from '../../drivers/guest-channel/workload-log.ts';

export const WORKLOAD_POLL_MS = 1_000;

export type ReadWorkloadLog = (query: { tail?: number; from?: number }) => Promise<WorkloadLogView>;

export async function openWorkloadStream(
  read: ReadWorkloadLog,
  options: { tail: number; follow: boolean; signal: AbortSignal; pollMs?: number },
): Promise<Readable> {
  // The tail read goes first, so a guest that cannot answer fails the session at its start.
  const first = await read({ tail: Math.max(1, options.tail) });
  return Readable.from(follow(read, first, options), { objectMode: false });
}

async function* follow(
  read: ReadWorkloadLog,
  first: WorkloadLogView,
  options: { tail: number; follow: boolean; signal: AbortSignal; pollMs?: number },
): AsyncGenerator<Buffer> {
  if (options.tail > 0 && first.text !== '') yield Buffer.from(first.text);
  let end = first.end;
  while (options.follow && !options.signal.aborted) {
    await pause(options.pollMs ?? WORKLOAD_POLL_MS, options.signal);
    if (options.signal.aborted) return;
    const next = await read({ from: end });
    if (next.start > end)
      yield Buffer.from(`[mvm] ${next.start - end} bytes of the log rotated away unread\n`);
    if (next.text !== '') yield Buffer.from(next.text);
    end = next.end;
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
