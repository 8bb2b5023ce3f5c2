/**
 * Turns readings that restart (a VMM's CPU time and I/O start again at 0 with each new
 * process: every wake, every restart) into counters that never go down while an instance
 * lives, as Prometheus expects of a `_total`. A reading from another source (a new VMM pid)
 * or lower than the last one is a restart: what was counted so far is kept as a base.
 */
export class CounterAccumulator {
  private readonly series = new Map<string, { base: number; last: number; source: string }>();

  /** The counter's value after `raw`, read from `source` (e.g. the VMM's pid). */
  add(key: string, raw: number, source: string): number {
    const seen = this.series.get(key);
    if (!seen) {
      this.series.set(key, { base: 0, last: raw, source });
      return raw;
    }
    if (source !== seen.source || raw < seen.last) {
      seen.base += seen.last;
      seen.source = source;
    }
    seen.last = raw;
    return seen.base + raw;
  }

  /** The last value of a counter, or undefined if it was never read (or was forgotten). */
  value(key: string): number | undefined {
    const seen = this.series.get(key);
    return seen === undefined ? undefined : seen.base + seen.last;
  }

  /** Forgets every series whose key `keep` refuses (a destroyed instance's). */
  retain(keep: (key: string) => boolean): void {
    for (const key of this.series.keys()) if (!keep(key)) this.series.delete(key);
  }
}
