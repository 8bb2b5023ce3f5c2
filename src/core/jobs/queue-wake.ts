import type { IdleSlot } from '../idle-policy.ts';
import type { DesiredStatus, InstanceStatus } from '../model.ts';

/**
 * A queue-driven pool (`mvm pool autoscale <tenant/pool> --queue --min 0 --max N`, docs/jobs.md
 * "Queue-driven pools"): its workers are raised by the queue and lowered by the idle policy.
 */
export interface QueueScale {
  min: number;
  max: number;
  /**
   * Seconds the queue must stay empty before the workers it added go again
   * (core/jobs/queue-shrink.ts); absent: the coordinator's default (QUEUE_SHRINK_AFTER_SECS).
   */
  shrinkAfterSecs?: number;
}

export const MAX_QUEUE_WORKERS = 1000;
/** The longest shrink bound a pool may set: a day. */
export const MAX_SHRINK_AFTER_SECS = 86_400;

export function queueScaleProblems(scale: QueueScale): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries({ min: scale.min, max: scale.max })) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_QUEUE_WORKERS) {
      problems.push(
        `--${name} must be a whole number from 0 to ${MAX_QUEUE_WORKERS}, got ${value}`,
      );
    }
  }
  const after = scale.shrinkAfterSecs;
  if (
    after !== undefined &&
    (!Number.isInteger(after) || after < 0 || after > MAX_SHRINK_AFTER_SECS)
  ) {
    problems.push(
      `--shrink-after must be a whole number of seconds from 0 to ${MAX_SHRINK_AFTER_SECS}, got ${after}`,
    );
  }
  if (problems.length === 0 && scale.min > scale.max) {
    problems.push(`--min (${scale.min}) must not be more than --max (${scale.max})`);
  }
  return problems;
}

export interface QueueWorker {
  id: string;
  version: number;
  status: InstanceStatus;
  desiredStatus: DesiredStatus;
  idleSlot: IdleSlot | null;
  /**
   * Set while the scheduler holds it below its slot for lack of room on its node
   * (core/raise-room.ts): the scheduler raises it once there is room, not the queue.
   */
  pressureSleptAt?: string | null;
}

/** Jobs of the pool: due and queued, and leased to a worker now. */
export interface QueueDemand {
  queued: number;
  running: number;
}

export interface QueueWake {
  id: string;
  version: number;
  /** The slot the idle policy held it below: where the wake puts it back. */
  to: IdleSlot;
  /** `queue-resume`: a warm worker unpaused; `queue-wake`: a sleeping one restored. */
  reason: 'queue-resume' | 'queue-wake';
}

/**
 * The workers to raise so the pool has one awake worker per job it has to run (queued or
 * running), at least `min` and at most `max` awake. Only workers the idle policy lowered are
 * raised (an operator's warm, sleep or stop stays), warm ones first (a resume is milliseconds,
 * a wake a restore), each back to its slot. Never lowers: idleness does that, after the pool's
 * idle times.
 */
export function planQueueWake(
  scale: QueueScale,
  workers: readonly QueueWorker[],
  demand: QueueDemand,
): QueueWake[] {
  const awake = workers.filter((w) => w.desiredStatus === 'running').length;
  const want = Math.min(scale.max, Math.max(scale.min, demand.queued + demand.running));
  if (want <= awake) return [];
  const lowered = workers
    .filter((w) => w.idleSlot === 'running' && (w.pressureSleptAt ?? null) === null)
    .filter((w) => w.desiredStatus === 'warm' || w.desiredStatus === 'sleeping')
    .sort((a, b) => rank(a) - rank(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return lowered.slice(0, want - awake).map((w) => ({
    id: w.id,
    version: w.version,
    to: 'running',
    reason: w.desiredStatus === 'warm' ? 'queue-resume' : 'queue-wake',
  }));
}

function rank(worker: QueueWorker): number {
  return worker.desiredStatus === 'warm' ? 0 : 1;
}
