import type { Logger } from '../../ports/logger.ts';
import type { JobService } from '../services/job-service.ts';

/** A lost worker's job is claimable again within one lease plus this. */
export const SWEEP_INTERVAL_MS = 2_000;

/**
 * Runs the sweeper every SWEEP_INTERVAL_MS. Safe on every replica at once: each expiry is a
 * compare-and-set, so two sweepers never requeue one attempt twice.
 */
export function sweepJobs(
  jobs: Pick<JobService, 'sweep'>,
  logger?: Logger,
  intervalMs = SWEEP_INTERVAL_MS,
): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    jobs
      .sweep()
      .then((swept) => {
        if (swept.length > 0) logger?.info({ swept: swept.map((j) => j.id) }, 'jobs swept');
      })
      .catch((err: unknown) => logger?.warn({ err }, 'job sweep failed'))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
