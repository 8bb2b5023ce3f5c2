import type { PoolCounts } from '../model.ts';
import type { QueueDemand, QueueScale } from './queue-wake.ts';

/**
 * How long a queue-driven pool's queue must stay empty (nothing due, nothing running) before
 * the workers the queue added leave the pool's count. Longer than the idle times, so a queue
 * that empties between two bursts keeps its workers (asleep, a wake away) rather than
 * rebuilding them.
 */
export const QUEUE_SHRINK_AFTER_SECS = 600;
export const QUEUE_SHRINK_AFTER_MS = QUEUE_SHRINK_AFTER_SECS * 1000;

/**
 * The pool's own bound (`mvm pool autoscale --queue --shrink-after S`) when it set one, else
 * the coordinator's.
 */
export function shrinkAfterMs(scale: QueueScale, coordinatorMs: number): number {
  return scale.shrinkAfterSecs === undefined ? coordinatorMs : scale.shrinkAfterSecs * 1000;
}

/** Since when the pool's queue has been seen empty; undefined while it has work. */
export function emptySince(
  previous: number | undefined,
  demand: QueueDemand,
  nowMs: number,
): number | undefined {
  if (demand.queued + demand.running > 0) return undefined;
  return previous ?? nowMs;
}

export interface QueueShrinkInput {
  scale: QueueScale;
  counts: PoolCounts;
  /** Workers the queue added to the running count and has not removed yet. */
  queueAdded: number;
  demand: QueueDemand;
  /** Since when the queue has been empty (emptySince); undefined: it has work. */
  emptySinceMs: number | undefined;
  nowMs: number;
  afterMs: number;
}

/**
 * How many workers to take off the pool's running count: once the queue has stayed empty for
 * `afterMs`, the ones the queue added, but never below `min` slots (running + warm + sleeping)
 * and never more than the running count holds. Only ever the queue's own: workers an operator
 * scaled stay. 0 while any job is due or running (a leased worker is never removed).
 */
export function planQueueShrink(input: QueueShrinkInput): number {
  const { counts, demand, emptySinceMs } = input;
  if (demand.queued + demand.running > 0 || emptySinceMs === undefined) return 0;
  if (input.nowMs - emptySinceMs < input.afterMs) return 0;
  const slots = counts.running + counts.warm + counts.sleeping;
  const removable = Math.min(input.queueAdded, counts.running, slots - input.scale.min);
  return Math.max(0, removable);
}
