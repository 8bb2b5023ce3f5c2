import type { DesiredStatus, PoolCounts } from '../model.ts';
import {
  planQueueWake,
  type QueueDemand,
  type QueueScale,
  type QueueWake,
  type QueueWorker,
} from './queue-wake.ts';

/**
 * What a queue-driven pool does about its queue in one pass: the idle-lowered workers to raise
 * (planQueueWake) and how many workers to add to its running slot when raising is not enough.
 */
export interface QueueScalePlan {
  raise: QueueWake[];
  /**
   * Workers to add to the pool's running count: the materializer reuses stopped instances
   * first, then creates. 0 when the awake and raised workers cover the demand, or the pool's
   * slots already reach `max`.
   */
  add: number;
}

const awakeOf = (workers: readonly { desiredStatus: DesiredStatus }[]) =>
  workers.filter((w) => w.desiredStatus === 'running').length;

/** How awake a desired status is: a change to a lower one lowers the instance. */
const AWAKE_RANK: Partial<Record<DesiredStatus, number>> = { running: 3, warm: 2, sleeping: 1 };
const rankOf = (status: DesiredStatus | undefined) =>
  status === undefined ? 0 : (AWAKE_RANK[status] ?? 0);

/** One awake worker per job due or running, at least `min`, at most `max`. */
export function wantedAwake(scale: QueueScale, demand: QueueDemand): number {
  return Math.min(scale.max, Math.max(scale.min, demand.queued + demand.running));
}

/**
 * Grows the pool towards the demand: raises idle-lowered workers first (a resume or a wake
 * costs less than a boot), then adds workers while the pool's slots (its counts: every worker
 * it keeps, awake or lowered) stay within `max`. Never lowers and never removes: an empty
 * queue falls back to `min` through the idle policy (queueLowering).
 */
export function planQueueScale(
  scale: QueueScale,
  counts: PoolCounts,
  workers: readonly QueueWorker[],
  demand: QueueDemand,
): QueueScalePlan {
  const raise = planQueueWake(scale, workers, demand);
  const short = wantedAwake(scale, demand) - awakeOf(workers) - raise.length;
  const room = scale.max - (counts.running + counts.warm + counts.sleeping);
  return { raise, add: Math.max(0, Math.min(short, room)) };
}

/** A change the idle policy proposes for one instance. */
export interface LoweringChange {
  id: string;
  desiredStatus: DesiredStatus;
}

/**
 * The idle policy's changes a queue-driven pool allows: none that lowers a worker holding a
 * job's lease (it is working, whatever its CPU shows while it waits on a fetch), and none that
 * takes the pool below `min` awake workers, so the idle pass and the queue's raise do not undo
 * each other. Changes that raise pass untouched.
 */
export function queueLowering<C extends LoweringChange>(
  changes: readonly C[],
  workers: readonly { id: string; desiredStatus: DesiredStatus }[],
  rules: { min: number; leased: ReadonlySet<string> },
): C[] {
  let spare = awakeOf(workers) - rules.min;
  return changes.filter((change) => {
    const was = workers.find((w) => w.id === change.id)?.desiredStatus;
    if (rankOf(change.desiredStatus) >= rankOf(was)) return true;
    if (rules.leased.has(change.id)) return false;
    if (was !== 'running') return true;
    spare -= 1;
    return spare >= 0;
  });
}

/** The instance a lease's worker (`<node>/<instance>`) names. */
export function leasedInstance(worker: string | null): string | undefined {
  if (worker === null) return undefined;
  const slash = worker.indexOf('/');
  return slash === -1 ? undefined : worker.slice(slash + 1);
}
