import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { MAX_DATA_CHUNK } from '../../contract/exec.ts';

export interface OutputSource {
  readable: Readable;
  channel: 'stdout' | 'stderr';
}

/**
 * Sends a session's output over the tunnel within the credit the client granted, reading its
 * streams only while there is credit: an unread stream stops the guest client's reads, which
 * stops the guest's credit, which stops the command on its pipe. So the agent holds at most
 * the guest window per session, whatever the client's speed.
 */
export class OutputPump {
  /** Settles once every source has ended (or was destroyed: the exit then says why). */
  readonly done: Promise<void>;
  private discarding = false;
  private peak = 0;

  constructor(
    private readonly sources: readonly OutputSource[],
    private credit: number,
    private readonly send: (channel: OutputSource['channel'], bytes: Buffer) => void,
  ) {
    this.done = Promise.all(sources.map((s) => finished(s.readable).catch(() => undefined))).then(
      () => undefined,
    );
    for (const source of sources) source.readable.on('readable', () => this.drain(source));
  }

  grant(bytes: number): void {
    this.credit += bytes;
    for (const source of this.sources) this.drain(source);
  }

  /** Nobody reads any more (the client left): read and drop, so the guest can finish. */
  discard(): void {
    this.discarding = true;
    for (const source of this.sources) this.drain(source);
  }

  /** The most output this pump ever held unsent (bytes). */
  get peakHeld(): number {
    return this.peak;
  }

  private drain(source: OutputSource): void {
    const { readable } = source;
    this.peak = Math.max(
      this.peak,
      this.sources.reduce((sum, s) => sum + s.readable.readableLength, 0),
    );
    for (;;) {
      if (readable.readableEnded || readable.destroyed) return;
      const available = readable.readableLength;
      // Nothing buffered: a read ends a finished stream, or lets the guest send more.
      if (available === 0) return void readable.read();
      const limit = this.discarding ? available : Math.min(available, this.credit);
      if (limit <= 0) return;
      const chunk = readable.read(Math.min(limit, MAX_DATA_CHUNK)) as Buffer | null;
      if (chunk === null) return;
      if (this.discarding) continue;
      this.credit -= chunk.length;
      this.send(source.channel, chunk);
    }
  }
}
