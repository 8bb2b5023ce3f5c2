import type { Logger } from '../ports/logger.ts';
export interface IdleLoopOptions {
  /** The idle pass (services/idle-service.ts), with the queue-driven pools' raise after it. */
  idle: { pass(): Promise<{ changed: Array<{ instance: string; to: string; reason: string }> }> };
  logger?: Logger;
  /** How often to look; default 5 s, the agents' heartbeat period, which brings the activity. */
  everyMs?: number;
}

export const DEFAULT_IDLE_CHECK_MS = 5_000;

/**
 * Runs the idle policy every few seconds until stopped. Runs on every replica: each change is
 * a compare-and-set under the tenant's lock, so two replicas never apply one twice. Passes
 * never overlap; a failed pass is logged and tried again on the next tick.
 */
export function watchIdle(options: IdleLoopOptions): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const check = async (): Promise<void> => {
    try {
      const result = await options.idle.pass();
      for (const change of result.changed) {
        options.logger?.info(change, 'idle policy changed an instance');
      }
    } catch (error) {
      options.logger?.warn({ err: error }, 'idle policy pass failed; retrying on the next tick');
    }
  };
  const timer = setInterval(() => {
    if (running) return;
    running = check().finally(() => {
      running = undefined;
    });
  }, options.everyMs ?? DEFAULT_IDLE_CHECK_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
