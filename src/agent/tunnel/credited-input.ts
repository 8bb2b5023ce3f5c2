import { Readable } from 'node:stream';
import { ReceiveCredit } from '../../drivers/exec-tunnel/credit.ts';

/**
 * A session's input as it arrives over the tunnel, as a Readable for the guest client. The
 * sender may have at most `window` bytes here that the guest has not taken; a chunk counts as
 * taken once the consumer pulled it (the Readable buffers none ahead: highWaterMark 0), and
 * the sender gets credit back for it then.
 */
export class CreditedInput {
  readonly readable: Readable;
  private readonly credit: ReceiveCredit;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private wanted = false;
  private ended = false;
  private closed = false;
  private feeding = false;

  constructor(window: number, grant: (bytes: number) => void) {
    this.credit = new ReceiveCredit(window, grant);
    this.readable = new Readable({
      highWaterMark: 0,
      read: () => {
        this.wanted = true;
        this.feed();
      },
    });
  }

  /** False when the sender went past its credit (the bytes are dropped). */
  push(bytes: Buffer): boolean {
    if (this.ended || !this.credit.receive(bytes.length)) return false;
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.feed();
    return true;
  }

  end(): void {
    this.ended = true;
    this.feed();
  }

  /** Bytes here the consumer has not taken yet. */
  get held(): number {
    return this.queued + this.readable.readableLength;
  }

  /** Hands queued chunks to a consumer that asked for more, one pull at a time. */
  private feed(): void {
    if (this.feeding) return;
    this.feeding = true;
    try {
      while (this.wanted && this.queue.length > 0) {
        const chunk = this.queue.shift() as Buffer;
        this.queued -= chunk.length;
        this.wanted = this.readable.push(chunk);
        this.credit.consume(chunk.length);
      }
      if (this.ended && this.queue.length === 0 && !this.closed) {
        this.closed = true;
        this.readable.push(null);
      }
    } finally {
      this.feeding = false;
    }
  }
}
