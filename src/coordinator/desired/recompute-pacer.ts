import type { WriteActivity } from './write-activity.ts';

export interface PacerOptions {
  /**
   * A node whose document computation began less than this long ago (or `costFactor` times
   * its last computation's duration, if longer) is hot: its next recomputation waits for a
   * pause in the writes, until that time at most. 0 paces nothing.
   */
  paceMs: number;
  /** The pace in computations' durations: a hot node's document takes at most 1/this of its time. */
  costFactor: number;
  /** How long no write must be in progress to count as a pause. */
  graceMs: number;
  /** The longest pace, however slow computations get: a change waits no longer for its document. */
  maxPaceMs: number;
}

interface Last {
  startMs: number;
  durationMs: number;
}

/**
 * Paces the recomputations of a hot node's document. A burst of changes on one node (four
 * clients toggling instances there) made its watcher recompute its whole document once per
 * change, each computation (~10-14 ms of CPU for 1,000 instances) taken from the writes that
 * caused it. A node not computed within its pace is computed at once (a single change reaches
 * its agent with no added delay); a hot one waits until writes pause for `graceMs` (or, when
 * the last write ran alone, until it ends: a sequential client's change is no burst) or its
 * pace has passed since its last computation began, and every change made meanwhile is
 * carried by that one computation. So a node's document is computed at most once per pace while writes
 * never pause, and every change still reaches its watcher.
 */
export class RecomputePacer {
  private readonly last = new Map<string, Last>();

  constructor(
    private readonly writes: WriteActivity,
    private readonly options: PacerOptions,
  ) {}

  /**
   * Waits for the node's turn when it is hot (see above), then notes a computation starting;
   * call the answer's `done` when it ends. `waited`: what was read before may be stale.
   */
  async turn(nodeId: string, signal?: AbortSignal): Promise<{ waited: boolean; done: () => void }> {
    const { paceMs, costFactor, graceMs, maxPaceMs } = this.options;
    const nowMs = () => this.writes.now();
    const last = this.last.get(nodeId);
    const pace = last ? Math.min(maxPaceMs, Math.max(paceMs, costFactor * last.durationMs)) : 0;
    const until = (last?.startMs ?? 0) + pace;
    const waited = paceMs > 0 && last !== undefined && nowMs() < until;
    if (waited) await this.writes.quiet(graceMs, until, signal);
    return { waited, done: this.started(nodeId) };
  }

  /** Drops the node's last computation (a node lost or gone); whether one was noted. */
  forget(nodeId: string): boolean {
    return this.last.delete(nodeId);
  }

  /** Notes a computation of the node starting without waiting (a refresh); call the answer when it ends. */
  started(nodeId: string): () => void {
    const startMs = this.writes.now();
    const previous = this.last.get(nodeId);
    this.last.set(nodeId, { startMs, durationMs: previous?.durationMs ?? 0 });
    return () => {
      const durationMs = this.writes.now() - startMs;
      const current = this.last.get(nodeId);
      if (current?.startMs === startMs) this.last.set(nodeId, { startMs, durationMs });
    };
  }
}
