import { isMvmError } from '../core/errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { NodeLoss } from './services/node-health-service.ts';

export interface NodeHealthLoopOptions {
  health: {
    readonly lostAfterMs: number;
    detectLost(watchingSince: Date): Promise<NodeLoss[]>;
  };
  clock: Clock;
  logger?: Logger;
  /** How often to look; default a third of the loss timeout. */
  everyMs?: number;
}

/**
 * Looks for silent nodes every few seconds until stopped. Runs on every replica; the
 * scheduler's lock lets one of them act at a time. Checks never overlap, and a failed check
 * is logged and simply tried again on the next tick. While the database was away no
 * heartbeat could land, so once it is back every node gets a full timeout again, as at start.
 */
export function watchNodeHealth(options: NodeHealthLoopOptions): { stop(): Promise<void> } {
  let since = options.clock.now();
  let storeWasAway = false;
  const everyMs = options.everyMs ?? Math.max(50, Math.floor(options.health.lostAfterMs / 3));
  let running: Promise<void> | undefined;
  const check = async (): Promise<void> => {
    if (storeWasAway) since = options.clock.now();
    try {
      for (const loss of await options.health.detectLost(since)) {
        options.logger?.warn(
          {
            node: loss.nodeId,
            moved: loss.moved.length,
            waiting: loss.waiting.length,
            forgotten: loss.forgotten.length,
          },
          'node lost: no heartbeat within the timeout; its instances were re-placed',
        );
      }
      storeWasAway = false;
    } catch (error) {
      storeWasAway ||= isMvmError(error) && error.code === 'store_unavailable';
      options.logger?.warn({ err: error }, 'node health check failed; retrying on the next tick');
    }
  };
  const timer = setInterval(() => {
    if (running) return;
    running = check().finally(() => {
      running = undefined;
    });
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
