import type { ActivitySample } from '../../contract/heartbeat.ts';

/** How long what a node's instances were seen to hold is trusted before all are read again. */
export const ACTIVITY_SEEN_REFRESH_MS = 60_000;

const keyOf = (s: { tenant: string; pool: string; instance: string }) =>
  `${s.tenant}/${s.pool}/${s.instance}`;

interface NodeSeen {
  since: number;
  /** Instance key → a lastActiveAt (ms) the store is known to hold at least. */
  times: Map<string, number>;
}

/**
 * What each node's instances were last seen to hold as their activity time, so a heartbeat
 * whose samples cannot move any of them forward (an idle instance reports the same time
 * beat after beat) reads and locks nothing. A stored activity time only ever moves forward
 * (the heartbeat, a wake, the idle policy's busy answer), so a sample no later than one seen
 * cannot move it. The one way back, an instance destroyed and created again under the same
 * name, starts at none: each node's record is dropped every `refreshMs`, which bounds how
 * long such an instance's first activity can go unrecorded.
 */
export class ActivitySeen {
  private readonly nodes = new Map<string, NodeSeen>();

  constructor(private readonly refreshMs: number = ACTIVITY_SEEN_REFRESH_MS) {}

  /** The samples that may move an instance's activity time forward. */
  moving(nodeId: string, samples: readonly ActivitySample[], now: number): ActivitySample[] {
    const seen = this.current(nodeId, now);
    return samples.filter((s) => {
      if (s.lastActiveAt === undefined) return false;
      const known = seen?.times.get(keyOf(s));
      return known === undefined || !(Date.parse(s.lastActiveAt) <= known);
    });
  }

  /** The store holds `lastActiveAt` (or later) for this node's instance. */
  note(
    nodeId: string,
    instance: { tenant: string; pool: string; instance: string },
    lastActiveAt: string | null,
    now: number,
  ): void {
    if (lastActiveAt === null) return;
    const at = Date.parse(lastActiveAt);
    if (Number.isNaN(at)) return;
    let seen = this.current(nodeId, now);
    if (!seen) {
      seen = { since: now, times: new Map() };
      this.nodes.set(nodeId, seen);
    }
    seen.times.set(keyOf(instance), at);
  }

  /** Drops what the node's instances were seen to hold (a node lost or gone). */
  forget(nodeId: string): boolean {
    return this.nodes.delete(nodeId);
  }

  /** The nodes something is noted for. */
  nodeIds(): IterableIterator<string> {
    return this.nodes.keys();
  }

  private current(nodeId: string, now: number): NodeSeen | undefined {
    const seen = this.nodes.get(nodeId);
    if (seen && now - seen.since < this.refreshMs && now >= seen.since) return seen;
    if (seen) this.nodes.delete(nodeId);
    return undefined;
  }
}
