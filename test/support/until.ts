import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';

/** Polls `probe` until it yields a value (undefined = not yet); names `what` on a timeout. */
export function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 120_000,
  intervalMs = 100,
): Promise<T> {
  return waitUntil(probe, { clock: systemClock, what, timeoutMs, intervalMs });
}
