/** Timings the benches collect and summarize, in milliseconds. */
export type Samples = Map<string, number[]>;

/** Runs `work`, adds its duration to `samples` under `name`, and returns its result. */
export async function timed<T>(samples: Samples, name: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  samples.set(name, [...(samples.get(name) ?? []), performance.now() - started]);
  return result;
}

/** The middle value; the mean of the two middle ones for an even count; 0 for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Nearest-rank percentile (p in 0..100) of the values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
