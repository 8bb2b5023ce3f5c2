import type { ActivityCounters } from '../../ports/activity-probe.ts';

/** One reading of a VM's counters, stamped with when and from which VMM process. */
export interface CounterSample extends ActivityCounters {
  atMs: number;
  pid: number;
  /** The guest's own CPU time since its boot, as its agent reported it (ticks, all CPUs). */
  guestCpu?: { busy: number; idle: number };
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
 * The fewest guest ticks (USER_HZ, 1/100 s) between two samples for the guest's own account
 * to count: less than half a second of guest time says too little to overrule the host.
 */
export const MIN_GUEST_TICKS = 50;

/**
 * When the VMM used this much more of a host CPU than its guest says it was busy (in CPUs,
 * over the same interval), the VMM's CPU is not the guest working, and the guest's own share
 * decides. Measured under TCG (docs/jobs.md, "Jobs e2e"): an idle guest's VMM costs 4-14% of a
 * CPU with the guest 8-17% busy by its own account, a busy guest the two agree; stop 33's
 * spinning VMM was at a whole CPU with the guest 83% idle.
 */
export const UNEXPLAINED_VMM_SHARE = 0.25;

/**
 * The guest's own busy share below which it is idle when its VMM is not believed. Higher than
 * the host's 7.5%: under TCG an idle guest's timer ticks and init loop keep it 8-17% busy by
 * its own account (measured), a guest running a loop reports 100%.
 */
export const GUEST_IDLE_SHARE = 0.25;

/** What the guest said of its CPU time between two samples, or undefined (see guestBusyShare). */
function guestBusy(
  before: CounterSample,
  after: CounterSample,
): { busy: number; total: number } | undefined {
  const busy = grew(before.guestCpu?.busy, after.guestCpu?.busy);
  const idle = grew(before.guestCpu?.idle, after.guestCpu?.idle);
  if (busy === undefined || idle === undefined || busy + idle < MIN_GUEST_TICKS) return undefined;
  return { busy, total: busy + idle };
}

/**
 * The guest's busy share of its own CPU time between two samples (0..1), or undefined when
 * either sample lacks the guest's report, the guest rebooted in between (counters went back),
 * or too little guest time passed.
 */
export function guestBusyShare(before: CounterSample, after: CounterSample): number | undefined {
  const guest = guestBusy(before, after);
  return guest === undefined ? undefined : guest.busy / guest.total;
}

/**
 * Whether the guest's own account overrules its VMM's CPU time (`cpuUsec` over `elapsedMs`):
 * the VMM used more than UNEXPLAINED_VMM_SHARE of a CPU beyond the guest's busy time, and the
 * guest was busy for no more than GUEST_IDLE_SHARE of its own time.
 */
function guestSaysIdle(
  before: CounterSample,
  after: CounterSample,
  cpuUsec: number,
  elapsedMs: number,
): boolean {
  const guest = guestBusy(before, after);
  if (guest === undefined) return false;
  const vmmCpus = cpuUsec / (elapsedMs * 1000);
  const guestCpus = (guest.busy * 10) / elapsedMs; // a tick is 10 ms of one guest CPU
  const unexplained = vmmCpus - guestCpus > UNEXPLAINED_VMM_SHARE;
  return unexplained && guest.busy / guest.total <= GUEST_IDLE_SHARE;
}

/**
 * Whether the VM was active between two samples. Samples of different VMM processes (the VM
 * was restarted or woken in between) or out of order say nothing: counters start over with a
 * new process, and the status change itself is already on record.
 *
 * The VMM's CPU counts unless the guest contradicts it: when the guest reported its own CPU
 * time in both samples and the VMM used more than UNEXPLAINED_VMM_SHARE of a CPU beyond what
 * the guest was busy, the VMM's CPU is its own overhead (under TCG an idle guest's VMM was
 * seen at a whole CPU after a wake, docs/jobs.md "Jobs e2e"), and the guest's own share
 * decides against GUEST_IDLE_SHARE. Where the two agree nothing changes. The guest can only
 * make itself look idler this way, never busier: a guest that lies is put to sleep sooner.
 * Tap traffic counts as before.
 */
export function wasActive(
  before: CounterSample,
  after: CounterSample,
  thresholds: ActivityThresholds = DEFAULT_ACTIVITY_THRESHOLDS,
): boolean {
  const elapsedMs = after.atMs - before.atMs;
  if (before.pid !== after.pid || elapsedMs <= 0) return false;
  const cpu = grew(before.cpuUsec, after.cpuUsec);
  if (cpu !== undefined && cpu > thresholds.cpuShare * elapsedMs * 1000) {
    if (!guestSaysIdle(before, after, cpu, elapsedMs)) return true;
  }
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
