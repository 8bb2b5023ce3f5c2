/**
 * Reading the workload's log through the guest agent's `logs` op, which answers one bounded
 * range at a time: the last N lines (paging back until it has them or reaches what the guest
 * still keeps), or everything after a position (a follower's next read).
 */
import type { WorkloadLogChunk } from './guest-agent-client.ts';

export interface WorkloadLogSource {
  logs(options: { from?: number; maxBytes?: number }): Promise<WorkloadLogChunk>;
}

export interface WorkloadLogView {
  /** Oldest position the guest still keeps. */
  first: number;
  /** Where `text` begins and ends in the whole stream; follow on from `end`. */
  start: number;
  end: number;
  text: string;
}

const PAGE = 45_000;
/** The guest keeps two files of 1 MiB at most; never page further than that. */
const MAX_BYTES = 4 * 1024 * 1024;

export async function tailWorkloadLog(
  source: WorkloadLogSource,
  lines: number,
): Promise<WorkloadLogView> {
  const last = await source.logs({ from: -PAGE });
  const chunks = [last.data];
  let start = last.start;
  let bytes = last.data.length;
  while (newlines(chunks) <= lines && start > last.first && bytes < MAX_BYTES) {
    const from = Math.max(last.first, start - PAGE);
    const page = await source.logs({ from, maxBytes: start - from });
    if (page.data.length === 0) break;
    chunks.unshift(page.data.subarray(0, start - page.start));
    start = page.start;
    bytes += page.data.length;
  }
  const end = last.start + last.data.length;
  const data = lastLines(Buffer.concat(chunks), lines);
  return { first: last.first, start: end - data.length, end, text: data.toString('utf8') };
}

/** Everything written at or after `from` (at most `maxBytes`), for a follower. */
export async function readWorkloadLog(
  source: WorkloadLogSource,
  from: number,
  maxBytes = PAGE,
): Promise<WorkloadLogView> {
  const chunk = await source.logs({ from: Math.max(0, from), maxBytes });
  return {
    first: chunk.first,
    start: chunk.start,
    end: chunk.start + chunk.data.length,
    text: chunk.data.toString('utf8'),
  };
}

function newlines(chunks: readonly Buffer[]): number {
  let n = 0;
  for (const chunk of chunks) for (const byte of chunk) if (byte === 0x0a) n += 1;
  return n;
}

/** The last `count` lines; a last line without its newline counts as one. */
function lastLines(data: Buffer, count: number): Buffer {
  let seen = 0;
  for (let i = data.length - 1; i >= 0; i -= 1) {
    if (data[i] !== 0x0a || i === data.length - 1) continue;
    seen += 1;
    if (seen === count) return data.subarray(i + 1);
  }
  return data;
}
