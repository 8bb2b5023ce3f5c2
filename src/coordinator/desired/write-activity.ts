import { EventEmitter } from 'node:events';

/** The write that ended last, as `quiet` weighs it. */
interface LastWrite {
  endMs: number;
  /** No other write was in progress at any time while it ran. */
  alone: boolean;
  /** From the previous write's end to its start. */
  gapBeforeMs: number;
}

/**
 * Which writes (changes of intent: scales, instance actions, queue growth) are in progress in
 * this process, so that work that can wait (a hot node's document, recomputed moments ago:
 * recompute-pacer.ts) runs between them rather than in the middle of one. Only a hint: nothing
 * waits on it unbounded.
 */
export class WriteActivity {
  /** Writes started so far (each write's id). */
  private starts = 0;
  private readonly inProgress = new Set<number>();
  /** Those of the writes in progress that another write overlapped. */
  private readonly overlapped = new Set<number>();
  private last: LastWrite = { endMs: Number.NEGATIVE_INFINITY, alone: false, gapBeforeMs: 0 };
  private readonly events = new EventEmitter();

  constructor(private readonly nowMs: () => number = () => performance.now()) {
    // One listener per waiting watcher: a node count, not a leak.
    this.events.setMaxListeners(0);
  }

  /** Runs `work` counted as a write in progress until it settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.starts += 1;
    const id = this.starts;
    const gapBeforeMs = this.nowMs() - this.last.endMs;
    if (this.inProgress.size > 0) {
      this.overlapped.add(id);
      for (const other of this.inProgress) this.overlapped.add(other);
    }
    this.inProgress.add(id);
    try {
      return await work();
    } finally {
      this.inProgress.delete(id);
      const alone = !this.overlapped.delete(id);
      this.last = { endMs: this.nowMs(), alone, gapBeforeMs };
      this.events.emit('end');
    }
  }

  /** The time on the scale `quiet` takes (monotonic milliseconds). */
  now(): number {
    return this.nowMs();
  }

  /** Writes in progress now. */
  get inFlight(): number {
    return this.inProgress.size;
  }

  /**
   * Whether the writes look like a burst for a pause of `graceMs`: the write that ended last
   * ran beside another, or began less than `graceMs` after the one before it ended. A lone
   * write (a sequential client's, which waits for its answer and then some) is no burst.
   */
  private burst(graceMs: number): boolean {
    return !this.last.alone || this.last.gapBeforeMs < graceMs;
  }

  /**
   * Resolves once no write has been in progress for `graceMs`, or none is and the last one
   * ran alone (no burst under way: waiting `graceMs` would only delay its document), at
   * `untilMs` (on `nowMs`'s scale) at the latest, or when `signal` aborts.
   */
  quiet(graceMs: number, untilMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        this.events.off('end', check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      function arm(at: number, now: number) {
        clearTimeout(timer);
        timer = setTimeout(check, Math.max(0, at - now));
      }
      const check = () => {
        const now = this.nowMs();
        const quietAt = this.last.endMs + graceMs;
        const paused = this.inProgress.size === 0 && (now >= quietAt || !this.burst(graceMs));
        if (signal?.aborted || now >= untilMs || paused) done();
        else arm(this.inProgress.size === 0 ? Math.min(quietAt, untilMs) : untilMs, now);
      };
      this.events.on('end', check);
      signal?.addEventListener('abort', done, { once: true });
      check();
    });
  }
}
