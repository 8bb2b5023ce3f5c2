/**
 * Framing of the version-2 guest protocol, both ways, as pure functions: encode one frame,
 * split a byte stream into frames, and find the `hello` answer line that precedes them.
 */
import {
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  MAX_GUEST_PAYLOAD,
} from '../../contract/guest-protocol-v2.ts';

export interface Frame {
  type: number;
  stream: number;
  payload: Buffer;
}

export function encodeFrame(type: number, stream: number, payload: Uint8Array = EMPTY): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header[0] = FRAME_MAGIC;
  header[1] = type;
  header.writeUInt32BE(stream >>> 0, 2);
  header.writeUInt32BE(payload.length, 6);
  return Buffer.concat([header, payload]);
}

export function encodeJsonFrame(type: number, stream: number, body: unknown): Buffer {
  return encodeFrame(type, stream, Buffer.from(JSON.stringify(body)));
}

export function creditPayload(bytes: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(bytes >>> 0);
  return payload;
}

const EMPTY = Buffer.alloc(0);

/** The peer broke framing: the connection cannot be trusted any more and must be redone. */
export class FramingError extends Error {}

/** Accumulates bytes and yields whole frames; throws FramingError on a bad header. */
export class FrameDecoder {
  private pending: Buffer = EMPTY;

  constructor(private readonly maxPayload = MAX_GUEST_PAYLOAD) {}

  /** Bytes of a frame begun but not complete: a guest that stops here owes the rest. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    let offset = 0;
    while (this.pending.length - offset >= FRAME_HEADER_BYTES) {
      const magic = this.pending[offset];
      const length = this.pending.readUInt32BE(offset + 6);
      if (magic !== FRAME_MAGIC || length > this.maxPayload) {
        throw new FramingError(`bad frame header (magic ${magic}, length ${length})`);
      }
      const end = offset + FRAME_HEADER_BYTES + length;
      if (this.pending.length < end) break;
      frames.push({
        type: this.pending[offset + 1] ?? 0,
        stream: this.pending.readUInt32BE(offset + 2),
        payload: this.pending.subarray(offset + FRAME_HEADER_BYTES, end),
      });
      offset = end;
    }
    this.pending = offset === this.pending.length ? EMPTY : this.pending.subarray(offset);
    return frames;
  }
}

/**
 * Finds the JSON object `{"id":<id>,...}` ending a line in what a guest sends after a hello. Anything else
 * (stale frames of an earlier connection, an error frame, answers to an earlier hello) is
 * skipped, also when it shares a line with the answer. Returns the answer and the bytes after
 * its newline (frames that follow at once), or undefined while incomplete.
 */
export function findHelloAnswer(
  bytes: Buffer,
  id: number,
): { answer: Record<string, unknown>; rest: Buffer } | undefined {
  let from = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, from);
    if (nl < 0) return undefined;
    const line = bytes.subarray(from, nl);
    // Both agents write the id first: only there is a parse tried, so a line of braces from a
    // hostile guest costs one scan, not a failed JSON.parse per brace.
    const start = Buffer.from(`{"id":${id}`);
    for (let at = line.indexOf(start); at >= 0; at = line.indexOf(start, at + 1)) {
      const answer = parseObject(line.subarray(at).toString('utf8'));
      if (answer && answer['id'] === id) return { answer, rest: bytes.subarray(nl + 1) };
    }
    from = nl + 1;
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
