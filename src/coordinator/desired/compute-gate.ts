/**
 * At most `limit` document computations at once; the others wait their turn in arrival order.
 * A change that concerns every node (a tenant spread over the fleet, the fleet scope, the
 * 30 s refresh) wakes every watcher at once: unbounded, their reads held every pooled store
 * connection and API requests waited past their 5 s bound (503) at 100 nodes × 1,000
 * instances. Gated, the watchers queue and the rest of the coordinator keeps its connections.
 * Background work (a watcher's periodic refresh, with no change known to concern it) waits
 * until no other work waits, so a real change is not queued behind a round of refreshes.
 */
export class ComputeGate {
  private active = 0;
  private peak = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly background: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`a compute gate needs a limit of at least 1, not ${limit}`);
    }
  }

  async run<T>(work: () => Promise<T>, options: { background?: boolean } = {}): Promise<T> {
    if (this.active < this.limit) this.active += 1;
    // A slot is handed over on release, so `active` already counts this caller.
    else {
      const queue = options.background === true ? this.background : this.waiting;
      await new Promise<void>((resolve) => queue.push(resolve));
    }
    this.peak = Math.max(this.peak, this.active);
    try {
      return await work();
    } finally {
      const next = this.waiting.shift() ?? this.background.shift();
      if (next) next();
      else this.active -= 1;
    }
  }

  /** The most computations that ran at once so far. */
  get peakActive(): number {
    return this.peak;
  }
}
