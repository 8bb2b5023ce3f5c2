/**
 * Where one step's time goes: milliseconds per named phase, from the monotonic clock, for the
 * step's structured log line (`phasesMs`). Measurement only: no decision reads it, so it needs
 * no injected Clock. bench/wake-overhead.ts reads these fields from the logs.
 */
export class PhaseTimer {
  private last = performance.now();
  private readonly spent: Record<string, number> = {};

  /** Adds the time since the previous mark (or the start) to `phase`. */
  mark(phase: string): void {
    const now = performance.now();
    this.spent[phase] = (this.spent[phase] ?? 0) + (now - this.last);
    this.last = now;
  }

  /** The phases so far, rounded to 0.01 ms. */
  get ms(): Record<string, number> {
    return Object.fromEntries(
      Object.entries(this.spent).map(([phase, ms]) => [phase, Math.round(ms * 100) / 100]),
    );
  }
}

/**
 * `work`, its duration noted in `into[name]` (ms, rounded to 0.01) once it settles: for parts
 * that run side by side, where one timer's marks cannot tell them apart (`partsMs`).
 */
export function timed<T>(into: Record<string, number>, name: string, work: Promise<T>): Promise<T> {
  const started = performance.now();
  return work.finally(() => {
    into[name] = Math.round((performance.now() - started) * 100) / 100;
  });
}
