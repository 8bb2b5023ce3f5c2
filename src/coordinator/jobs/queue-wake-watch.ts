import type { Logger } from '../../ports/logger.ts';
import type { ChangeNotifier } from '../desired/change-notifier.ts';
import type { QueueWakeResult } from '../services/queue-wake-service.ts';

export interface QueueWakeWatchOptions {
  /** Announces submits and requeues: this process's, and on Postgres every replica's. */
  notifier: Pick<ChangeNotifier, 'onJobs'>;
  /** The queue-driven pools' pass (services/queue-wake-service.ts), for the pools named. */
  queueWake: { pass(only: ReadonlySet<string>): Promise<QueueWakeResult> };
  logger?: Logger;
}

/**
 * Raises a queue-driven pool's workers as soon as it gets a claimable job, rather than at the
 * idle loop's next tick: every job change the notifier announces (a submit, a retry, a
 * requeue; on Postgres through LISTEN from any replica) runs the same pass for its pools.
 * Passes never overlap: pools announced during one are gathered and passed right after it,
 * so a burst of submits costs one or two passes. A failed pass is logged; the idle loop's
 * pass covers it within its period.
 */
export function watchQueueWake(options: QueueWakeWatchOptions): { stop(): Promise<void> } {
  let pending = new Set<string>();
  let running: Promise<void> | undefined;
  let stopped = false;
  const passPending = async (): Promise<void> => {
    const pools = pending;
    pending = new Set();
    try {
      const result = await options.queueWake.pass(pools);
      for (const change of result.changed) {
        options.logger?.info(change, 'queued job raised a worker');
      }
    } catch (error) {
      options.logger?.warn(
        { err: error, pools: [...pools] },
        'queue wake on submit failed; the idle loop retries',
      );
    }
  };
  // One pass at a time; whatever was announced meanwhile starts the next once it ends.
  const kick = (): void => {
    if (running || stopped || pending.size === 0) return;
    running = passPending().finally(() => {
      running = undefined;
      kick();
    });
  };
  const unsubscribe = options.notifier.onJobs((pools) => {
    for (const pool of pools) pending.add(pool);
    kick();
  });
  return {
    async stop() {
      stopped = true;
      unsubscribe();
      await running;
    },
  };
}
