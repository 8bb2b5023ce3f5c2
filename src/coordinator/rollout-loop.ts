import type { Logger } from '../ports/logger.ts';

export interface RolloutLoopOptions {
  rollouts: { tickAll(): Promise<void> };
  logger?: Logger;
  /** How often active rollouts take a step; default 1 s. */
  everyMs?: number;
}

/**
 * Moves every active rollout on, every second, on every replica (the rollouts lock lets one of
 * them act at a time). Passes never overlap; a failed one is logged and tried on the next tick.
 */
export function watchRollouts(options: RolloutLoopOptions): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = options.rollouts
      .tickAll()
      .catch((err: unknown) => options.logger?.warn({ err }, 'rollout pass failed; retrying'))
      .finally(() => {
        running = undefined;
      });
  }, options.everyMs ?? 1_000);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
