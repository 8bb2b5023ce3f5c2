/**
 * A connected instance watch's look at the tombstone pruning horizon (docs/api.md, "Pruning
 * and `reset`"). Every `everyMs`, after a read of changes, the horizon is read once; when it
 * has passed a cursor the watch read from since the previous look, a tombstone the watch was
 * not sent may have been pruned before it read it, and the watch must start over. A horizon
 * already known was accounted for: the list read after learning it lacks those rows.
 */
export class HorizonLook {
  /** The first cursor read from since the last look. */
  private unchecked: number | undefined;
  private lookedAt: number;

  constructor(
    /** The horizon this watch has accounted for (read before its list). */
    private known: number,
    private readonly everyMs: number,
    private readonly readHorizon: () => Promise<number>,
    private readonly now: () => number = Date.now,
  ) {
    this.lookedAt = now();
  }

  /** Call before reading changes from `cursor`. */
  reading(cursor: number): void {
    this.unchecked ??= cursor;
  }

  /**
   * Call after that read: the cursor the horizon passed and the horizon (the watch starts
   * over from a fresh list), or undefined (nothing it read from was pruned, or no look is due).
   */
  async passed(): Promise<{ since: number; horizon: number } | undefined> {
    const from = this.unchecked;
    if (from === undefined || this.now() - this.lookedAt < this.everyMs) return undefined;
    this.lookedAt = this.now();
    this.unchecked = undefined;
    const horizon = await this.readHorizon();
    const passed = horizon > this.known && horizon > from;
    this.known = Math.max(this.known, horizon);
    return passed ? { since: from, horizon } : undefined;
  }
}
