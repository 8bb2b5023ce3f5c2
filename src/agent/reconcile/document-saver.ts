import type { StoredEnvelope } from '../../contract/desired.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { DesiredFileStore } from '../desired/desired-file-store.ts';

const FIRST_RETRY_MS = 200;
const LAST_RETRY_MS = 10_000;

interface Waiting {
  envelope: StoredEnvelope;
  generation: number;
}

/**
 * Writes accepted documents to disk behind the passes that act on them. One write at a time;
 * a document handed over while one is written replaces any older one still waiting (only the
 * newest matters at the next start). A failed write (disk full, EIO) is logged and tried again
 * with backoff until it lands, a newer document replaces it, or the loop stops.
 */
export class DocumentSaver {
  private waiting: Waiting | undefined;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly options: {
      store: Pick<DesiredFileStore, 'save'>;
      clock: Clock;
      logger?: Logger;
      signal: AbortSignal;
    },
  ) {}

  save(envelope: StoredEnvelope, generation: number): void {
    this.waiting = { envelope, generation };
    // After the pass this document starts has run as far as it goes without waiting (its
    // first actions begun): the document's text is made on the same thread.
    this.writing ??= new Promise((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => (this.writing = undefined));
  }

  /** Resolves once every document handed over is on disk, or the loop stopped trying. */
  async settled(): Promise<void> {
    await this.writing;
    if (this.waiting) {
      this.options.logger?.warn(
        { generation: this.waiting.generation },
        'desired document not saved before the loop stopped; the next start waits for a fresh one',
      );
    }
  }

  private async drain(): Promise<void> {
    let delay = FIRST_RETRY_MS;
    for (let next = this.waiting; next; next = this.waiting) {
      try {
        await this.options.store.save(next.envelope);
        if (this.waiting === next) this.waiting = undefined;
        delay = FIRST_RETRY_MS;
      } catch (error) {
        if (this.options.signal.aborted) return;
        this.options.logger?.error(
          { err: error, generation: next.generation, retryInMs: delay },
          'desired document not saved; retrying (acting goes on; a restart meanwhile waits for a fresh one)',
        );
        await this.options.clock.sleep(delay, this.options.signal);
        if (this.options.signal.aborted) return;
        delay = Math.min(delay * 2, LAST_RETRY_MS);
      }
    }
  }
}
