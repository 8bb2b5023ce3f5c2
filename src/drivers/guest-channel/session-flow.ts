import { Readable } from 'node:stream';
import { FrameType, MAX_HOST_PAYLOAD } from '../../contract/guest-protocol-v2.ts';
import type { AgentConnection } from './agent-connection.ts';
import { creditPayload, encodeFrame } from './frame-codec.ts';

/**
 * Output flow control of one session: the guest may send `window` bytes beyond what the host
 * consumed. Bytes count as consumed once they left the Readables' buffers, so the guest stalls
 * (and stops reading its child's pipe) while the host's reader is slow: memory stays bounded
 * by the window on both sides.
 */
export class OutputFlow {
  private delivered = 0;
  private granted: number;
  readonly streams: Readable[] = [];

  constructor(
    private readonly conn: AgentConnection,
    private readonly stream: number,
    readonly window: number,
  ) {
    this.granted = window;
  }

  /** A Readable whose reads give the guest more credit. */
  readable(): Readable {
    const readable = new Readable({ read: () => this.grant(), highWaterMark: 64 * 1024 });
    this.streams.push(readable);
    return readable;
  }

  /** Output beyond the granted credit is a lie about flow control: the channel is dropped. */
  deliver(into: Readable, chunk: Buffer): void {
    this.delivered += chunk.length;
    if (this.delivered > this.granted) {
      this.conn.violation(
        `it sent ${this.delivered - this.granted} bytes of output beyond its credit on stream ${this.stream}`,
      );
      return;
    }
    into.push(chunk);
  }

  private grant(): void {
    if (this.conn.closed) return;
    const buffered = this.streams.reduce((sum, s) => sum + s.readableLength, 0);
    const allowed = this.delivered - buffered + this.window;
    if (allowed - this.granted < this.window / 4) return;
    this.conn.send(
      encodeFrame(FrameType.credit, this.stream, creditPayload(allowed - this.granted)),
    );
    this.granted = allowed;
  }

  /** Ends every stream: normally (the session finished) or as truncated (the channel died). */
  end(complete: boolean): void {
    for (const s of this.streams) {
      if (complete) s.push(null);
      else s.destroy();
    }
  }
}

/**
 * Input flow control of one session: at most the guest's `stdin_window` bytes unacknowledged;
 * the guest grants more as its child (or the file) takes them.
 */
export class InputFlow {
  private inflight = 0;
  private window = 0;
  private waiter: (() => void) | undefined;

  constructor(
    private readonly conn: AgentConnection,
    private readonly stream: number,
  ) {}

  open(window: number): void {
    this.window = window;
    this.wake();
  }

  credit(bytes: number): void {
    this.inflight = Math.max(0, this.inflight - bytes);
    this.wake();
  }

  /** Sends bytes as STDIN frames, waiting for window and socket room as needed. */
  async write(data: Uint8Array): Promise<void> {
    for (let offset = 0; offset < data.length;) {
      const piece = data.subarray(offset, offset + Math.min(MAX_HOST_PAYLOAD, this.window || 1));
      while (this.window === 0 || this.inflight + piece.length > this.window) {
        await new Promise<void>((resolve) => (this.waiter = resolve));
        if (this.conn.closed) return;
      }
      this.inflight += piece.length;
      if (!this.conn.send(encodeFrame(FrameType.stdin, this.stream, piece))) {
        await this.conn.drained();
      }
      offset += piece.length;
    }
  }

  end(): void {
    if (!this.conn.closed) this.conn.send(encodeFrame(FrameType.eof, this.stream));
  }

  /** Unblocks a waiting writer (the channel closed). */
  wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** Copies a source into the session, then ends its input. */
  async pump(source: Readable | Uint8Array | string): Promise<void> {
    if (typeof source === 'string' || source instanceof Uint8Array) {
      await this.write(typeof source === 'string' ? Buffer.from(source) : source);
    } else {
      for await (const chunk of source as AsyncIterable<Buffer | string>) {
        if (this.conn.closed) return;
        await this.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
    }
    this.end();
  }
}
