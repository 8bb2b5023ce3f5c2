import type { Logger } from '../../ports/logger.ts';

/** Called with a VM's key before a step lowers it from running (drain, pause, sleep). */
export type LoweringHook = (key: string) => Promise<void>;

/**
 * What must get out of a running guest's way before it is drained, paused or snapshotted:
 * the job executor the host keeps in a worker guest (agent/jobs/keep-job-relays.ts) is an
 * exec session, which the guest's drain counts as work in flight, so without this a worker
 * with an executor could never be put to sleep unforced. A hook that fails is logged; the
 * step goes on (the drain then decides, as for any other session).
 */
export class LoweringHooks {
  private readonly hooks = new Set<LoweringHook>();

  constructor(private readonly logger?: Logger) {}

  /** Adds `hook`; returns the call that removes it. */
  add(hook: LoweringHook): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  async run(key: string): Promise<void> {
    for (const hook of this.hooks) {
      await hook(key).catch((error: unknown) =>
        this.logger?.warn({ err: error, instance: key }, 'a hook before lowering failed'),
      );
    }
  }
}
