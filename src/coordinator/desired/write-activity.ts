import { EventEmitter } from 'node:events';

/**
 * Which writes (changes of intent: a pool's scale) are in progress in this process, so that
 * work that can wait (a hot node's document, recomputed moments ago: recompute-pacer.ts) runs
 * between them rather than in the middle of one. Only a hint: nothing waits on it unbounded.
 */
export class WriteActivity {
  private active = 0;
  private lastEndMs = Number.NEGATIVE_INFINITY;
  private readonly events = new EventEmitter();

  constructor(private readonly nowMs: () => number = () => performance.now()) {
    // One listener per waiting watcher: a node count, not a leak.
    this.events.setMaxListeners(0);
  }

  /** Runs `work` counted as a write in progress until it settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.active += 1;
    try {
      return await work();
    } finally {
      this.active -= 1;
      this.lastEndMs = this.nowMs();
      this.events.emit('end');
    }
  }

  /** The time on the scale `quiet` takes (monotonic milliseconds). */
  now(): number {
    return this.nowMs();
  }

  /** Writes in progress now. */
  get inFlight(): number {
    return this.active;
  }

  /**
   * Resolves once no write has been in progress for `graceMs`, at `untilMs` (on `nowMs`'s
   * scale) at the latest, or when `signal` aborts.
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
        const quietAt = this.lastEndMs + graceMs;
        if (signal?.aborted || now >= untilMs || (this.active === 0 && now >= quietAt)) done();
        else arm(this.active === 0 ? Math.min(quietAt, untilMs) : untilMs, now);
      };
      this.events.on('end', check);
      signal?.addEventListener('abort', done, { once: true });
      check();
    });
  }
}
