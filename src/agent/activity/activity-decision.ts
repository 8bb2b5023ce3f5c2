import type { ActivityCounters } from '../../ports/activity-probe.ts';

/** One reading of a VM's counters, stamped with when and from which VMM process. */
export interface CounterSample extends ActivityCounters {
  atMs: number;
  pid: number;
}

export interface ActivityThresholds {
  /** CPU growth, as a share of one CPU over the interval, above which the VM was busy. */
  cpuShare: number;
  /** Tap traffic, bytes per second over the interval, above which the VM was busy. */
  netBytesPerSecond: number;
}

/**
 * Measured (bench/idle-thresholds.ts, QEMU under TCG on the 2-core development host, 5 s
 * windows): an idle busybox guest costs 1.8-5.8% of one CPU, with an idle httpd 2.6-6.7%, and
 * a shell counting to 2,000 once a second 8.1-10.5%; its tap carries 0-28 B/s idle and
 * 254-623 B/s under one ping a second and an HTTP request every 5 s. So: 7.5% of a CPU, above
 * every idle window and below light computing, and 128 B/s, 4x the idle peak and half the
 * lightest use. The 2% and 1 KiB/s reasoned before would have called every idle TCG guest
 * busy and a guest answering a ping a second idle.
 */
export const DEFAULT_ACTIVITY_THRESHOLDS: ActivityThresholds = {
  cpuShare: 0.075,
  netBytesPerSecond: 128,
};

const grew = (before: number | undefined, after: number | undefined): number | undefined =>
  before === undefined || after === undefined || after < before ? undefined : after - before;

/**
 * Whether the VM was active between two samples. Samples of different VMM processes (the VM
 * was restarted or woken in between) or out of order say nothing: counters start over with a
 * new process, and the status change itself is already on record.
 */
export function wasActive(
  before: CounterSample,
  after: CounterSample,
  thresholds: ActivityThresholds = DEFAULT_ACTIVITY_THRESHOLDS,
): boolean {
  const elapsedMs = after.atMs - before.atMs;
  if (before.pid !== after.pid || elapsedMs <= 0) return false;
  const cpu = grew(before.cpuUsec, after.cpuUsec);
  if (cpu !== undefined && cpu > thresholds.cpuShare * elapsedMs * 1000) return true;
  const net = grew(before.netBytes, after.netBytes);
  return net !== undefined && net > (thresholds.netBytesPerSecond * elapsedMs) / 1000;
}

/**
 * CPU used between two samples of one VMM process, in thousandths of one host CPU; undefined
 * when the samples cannot be compared (another process, no CPU counter, out of order).
 */
export function cpuPermille(before: CounterSample, after: CounterSample): number | undefined {
  const elapsedMs = after.atMs - before.atMs;
  if (before.pid !== after.pid || elapsedMs <= 0) return undefined;
  const cpu = grew(before.cpuUsec, after.cpuUsec);
  // One CPU busy for one millisecond is 1000 µs: permille = µs per ms.
  return cpu === undefined ? undefined : Math.round(cpu / elapsedMs);
}
