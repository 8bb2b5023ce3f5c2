/**
 * When a delta heartbeat resends an instance's sample (docs/scale.md, "One statement per
 * heartbeat, and drifting gauges"). Counters and identities are compared exactly; gauges that
 * move a little every beat (CPU, resident memory, disk sizes, how long the workload has run)
 * only when they moved beyond a tolerance from what the coordinator holds. The periodic whole report carries every sample
 * as it is, so the coordinator is never more than one whole-report period behind on a gauge.
 * Pure.
 */

/** A gauge moved when |held − now| > max(abs, rel × max(|held|, |now|)). */
export interface GaugeTolerance {
  abs: number;
  rel: number;
}

export interface SampleTolerance {
  /** CPU over the last interval, thousandths of a host CPU. */
  cpuPermille: GaugeTolerance;
  rssKib: GaugeTolerance;
  diskKib: GaugeTolerance;
  snapshotKib: GaugeTolerance;
  /**
   * How long the workload's current run has lasted: exact while either value is below
   * `exactBelowMs` (a rollout waits for a run of 10 s and must see it cross), within the
   * tolerance after; a shorter run (a restart) is always sent.
   */
  runningForMs: GaugeTolerance & { exactBelowMs: number };
}

/** Every field compared exactly: deltas as before tolerances. */
export const EXACT_SAMPLES: SampleTolerance = {
  cpuPermille: { abs: 0, rel: 0 },
  rssKib: { abs: 0, rel: 0 },
  diskKib: { abs: 0, rel: 0 },
  snapshotKib: { abs: 0, rel: 0 },
  runningForMs: { abs: 0, rel: 0, exactBelowMs: Number.POSITIVE_INFINITY },
};

/**
 * What the agent uses: CPU within 5% of a CPU or a quarter of its value, memory within 1 MiB
 * or 5%, disk within 1 MiB or 1%, a workload's run time exact for its first minute and within
 * half of its value after (so a long run is resent about every 1.5× its age, or with the whole
 * report).
 */
export const DEFAULT_SAMPLE_TOLERANCE: SampleTolerance = {
  cpuPermille: { abs: 50, rel: 0.25 },
  rssKib: { abs: 1024, rel: 0.05 },
  diskKib: { abs: 1024, rel: 0.01 },
  snapshotKib: { abs: 1024, rel: 0.01 },
  runningForMs: { abs: 0, rel: 0.5, exactBelowMs: 60_000 },
};

/** The fields a tolerance applies to; every other field is compared exactly. */
export interface GaugedSample {
  cpuPermille?: number;
  rssKib?: number;
  diskKib?: number;
  snapshotKib?: number;
  workload?: { state: string; restarts: number; runningForMs?: number };
}

const GAUGES = ['cpuPermille', 'rssKib', 'diskKib', 'snapshotKib'] as const;

/** A gauge appearing or going always counts as moved. */
export function gaugeMoved(
  held: number | undefined,
  now: number | undefined,
  tolerance: GaugeTolerance,
): boolean {
  if (held === now) return false;
  if (held === undefined || now === undefined) return true;
  const bound = Math.max(tolerance.abs, tolerance.rel * Math.max(Math.abs(held), Math.abs(now)));
  return Math.abs(held - now) > bound;
}

function runMoved(
  held: number | undefined,
  now: number | undefined,
  tolerance: SampleTolerance['runningForMs'],
): boolean {
  if (held === undefined || now === undefined) return held !== now;
  if (now < held) return true;
  if (Math.min(held, now) < tolerance.exactBelowMs) return held !== now;
  return gaugeMoved(held, now, tolerance);
}

function workloadMoved(
  held: GaugedSample['workload'],
  now: GaugedSample['workload'],
  tolerance: SampleTolerance,
): boolean {
  if (held === undefined || now === undefined) return held !== now;
  if (held.state !== now.state || held.restarts !== now.restarts) return true;
  if (Object.keys(held).length !== Object.keys(now).length) return true;
  return runMoved(held.runningForMs, now.runningForMs, tolerance.runningForMs);
}

const TOLERATED = new Set<string>([...GAUGES, 'workload']);

/**
 * Any other field differs (sample fields are strings and numbers, so `!==` is equality; a
 * field holding an object would always count as moved, which only sends more).
 */
function exactFieldMoved(held: object, now: object): boolean {
  const a = held as Record<string, unknown>;
  const b = now as Record<string, unknown>;
  for (const key in a) if (!TOLERATED.has(key) && a[key] !== b[key]) return true;
  for (const key in b) if (!TOLERATED.has(key) && !(key in a)) return true;
  return false;
}

/** Whether `now` must be sent to a coordinator holding `held` for the same instance. */
export function sampleMoved<S extends GaugedSample>(
  held: S,
  now: S,
  tolerance: SampleTolerance,
): boolean {
  for (const gauge of GAUGES) {
    if (gaugeMoved(held[gauge], now[gauge], tolerance[gauge])) return true;
  }
  if (workloadMoved(held.workload, now.workload, tolerance)) return true;
  return exactFieldMoved(held, now);
}

/** A gauge tolerance as the agent's settings spell it: `ABS,REL%` (`50,25%`), or `exact`. */
export const GAUGE_TOLERANCE_FORMAT = /^(\d{1,9}),(\d{1,3}(?:\.\d{1,3})?)%$/;

export function formatGaugeTolerance(tolerance: GaugeTolerance): string {
  return `${tolerance.abs},${Number((tolerance.rel * 100).toFixed(3))}%`;
}

/**
 * Reads `ABS,REL%`: ABS a whole number in the gauge's unit (‰ of a CPU, KiB), REL a percentage
 * from 0 to 100; `exact` is `0,0%`. Undefined for anything else.
 */
export function parseGaugeTolerance(text: string): GaugeTolerance | undefined {
  if (text === 'exact') return { abs: 0, rel: 0 };
  const match = GAUGE_TOLERANCE_FORMAT.exec(text);
  if (match === null) return undefined;
  const percent = Number(match[2]);
  if (percent > 100) return undefined;
  return { abs: Number(match[1]), rel: Number((percent / 100).toFixed(5)) };
}

/** The tolerances an agent may set (disk covers data and snapshots); run time stays as it is. */
export interface GaugeSettings {
  cpuPermille: GaugeTolerance;
  rssKib: GaugeTolerance;
  diskKib: GaugeTolerance;
}

export function sampleToleranceOf(gauges: GaugeSettings): SampleTolerance {
  return {
    cpuPermille: gauges.cpuPermille,
    rssKib: gauges.rssKib,
    diskKib: gauges.diskKib,
    snapshotKib: gauges.diskKib,
    runningForMs: { ...DEFAULT_SAMPLE_TOLERANCE.runningForMs },
  };
}
