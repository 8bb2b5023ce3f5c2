import type { Readable } from 'node:stream';
import { MAX_DATA_CHUNK } from '../../contract/exec.ts';
import { SendCredit } from './credit.ts';

/**
 * Sends a local stream as a session's input within the credit the far end grants: the
 * stream is paused whenever credit runs out, so a command that reads slowly slows the
 * reading of this process's stdin instead of filling memory. Its end becomes the EOF.
 */
export class InputSender {
  private readonly credit: SendCredit;
  private pending: Buffer[] = [];
  private ended = false;
  private finished = false;

  constructor(
    private readonly source: Readable,
    window: number,
    private readonly send: (bytes: Buffer) => void,
    private readonly eof: () => void,
  ) {
    this.credit = new SendCredit(window);
    source.on('data', this.onData);
    source.once('end', this.onEnd);
  }

  grant(bytes: number): void {
    this.credit.grant(bytes);
    this.flush();
  }

  /** The session ended: stop reading (whatever is left unread stays unread). */
  stop(): void {
    this.finished = true;
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    this.source.pause();
  }

  private readonly onData = (chunk: Buffer | string): void => {
    this.pending.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    this.flush();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.flush();
  };

  private flush(): void {
    if (this.finished) return;
    while (this.pending.length > 0 && this.credit.available > 0) {
      const head = this.pending[0] as Buffer;
      const n = Math.min(head.length, this.credit.available, MAX_DATA_CHUNK);
      this.credit.spend(n);
      this.send(head.subarray(0, n));
      if (n === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(n);
    }
    if (this.pending.length > 0) this.source.pause();
    else if (!this.ended) this.source.resume();
    else {
      this.finished = true;
      this.eof();
    }
  }
}
