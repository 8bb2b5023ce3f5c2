/**
 * The time an executor judges a job by: the coordinator's, not its own host's. A worker
 * guest's wall clock is not to be trusted (under TCG the dev kernel keeps time with
 * refined-jiffies and falls behind the host when its vCPU is starved; a restored guest is
 * set from the host only to the second), yet a parked sleep is due by the coordinator's clock
 * (`run_at`) and an attempt's deadline starts at its claim (`started_at`), both stamped by the
 * coordinator. Judged by a lagging guest clock, a sleep whose `run_at` had passed looked still
 * ahead: the job was parked again for a time already past, claimed again at once, and the
 * worker spun (claim, module, journal, wasm thread, park) until its clock caught up.
 *
 * So the clock of one attempt is the claim's `started_at` plus the monotonic time elapsed
 * since the claim came back: it never reads the wall clock (a jump of it changes nothing), and
 * it lags the coordinator by at most the claim's return trip, never leads it.
 */
export interface JobClock {
  /** Epoch ms, in the coordinator's time. */
  now(): number;
}

export function jobClock(
  startedAt: string | null,
  monotonicMs: () => number = () => performance.now(),
  wallMs: () => number = () => Date.now(),
): JobClock {
  const start = startedAt === null ? Number.NaN : Date.parse(startedAt);
  if (!Number.isFinite(start)) return { now: wallMs };
  const from = monotonicMs();
  return { now: () => start + (monotonicMs() - from) };
}
