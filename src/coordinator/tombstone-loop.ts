import { pruneBefore, pruneEveryMs } from '../core/tombstone-retention.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { Store } from '../ports/store.ts';

export interface TombstoneLoopOptions {
  store: Pick<Store, 'instances'>;
  clock: Pick<Clock, 'now'>;
  retentionMs: number;
  logger?: Logger;
}

/** One pass: prunes the tombstones older than the retention, logging what it did. */
export async function pruneTombstonesOnce(
  options: TombstoneLoopOptions,
): Promise<{ pruned: number; horizon: number }> {
  const now = options.clock.now();
  const result = await options.store.instances.pruneTombstones(
    pruneBefore(now, options.retentionMs),
    now.toISOString(),
  );
  if (result.pruned > 0)
    options.logger?.info(
      { pruned: result.pruned, horizon: result.horizon, retentionMs: options.retentionMs },
      'pruned instance tombstones',
    );
  return result;
}

/**
 * Prunes instance tombstones past their retention (docs/api.md, "Watching instances"), on
 * every replica (the horizon only grows, so concurrent passes agree). Passes never overlap; a
 * failed one is logged and tried again on the next tick.
 */
export function pruneTombstonesEvery(options: TombstoneLoopOptions): { stop(): Promise<void> } {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = pruneTombstonesOnce(options)
      .catch((err: unknown) => options.logger?.warn({ err }, 'tombstone pruning failed'))
      .finally(() => {
        running = undefined;
      });
  }, pruneEveryMs(options.retentionMs));
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
