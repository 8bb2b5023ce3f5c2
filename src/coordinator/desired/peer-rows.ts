import type { PeerNode } from '../../core/vxlan-peers.ts';
import type { Store } from '../../ports/store.ts';
import type { NamedChanges } from './change-notifier.ts';

/** Under what kept values were read: valid while neither moved. */
export interface Stamp {
  /** The notifier's count noted before the marks and the data were read. */
  seq: number;
  /** The fleet's document mark read before the data. */
  fleet: number;
  atMs: number;
}

/**
 * Node rows for the peers, kept per replica: their status and underlay address move only with
 * the fleet's mark (join, loss, recovery, a new address). Kept rows that may be stale are
 * replaced by an empty map (a new object: what was assembled from the old one is not reused).
 */
export class PeerRows {
  private kept: (Stamp & { rows: Map<string, PeerNode> }) | undefined;

  constructor(
    private readonly store: Store,
    private readonly maxAgeMs: number,
  ) {}

  /** The kept rows if they stand at `now`, else a new empty map. */
  current(now: Stamp, named: NamedChanges): Map<string, PeerNode> {
    const kept = this.kept;
    const valid =
      kept !== undefined &&
      kept.fleet === now.fleet &&
      now.atMs - kept.atMs < this.maxAgeMs &&
      !named.fleetSince(kept.seq);
    if (valid) return kept.rows;
    this.kept = { ...now, rows: new Map() };
    return this.kept.rows;
  }

  /** These nodes' rows from `rows` (`current`'s): a node not kept yet is read on its own. */
  async of(ids: string[], rows: Map<string, PeerNode>): Promise<PeerNode[]> {
    const missing = ids.filter((id) => !rows.has(id));
    if (missing.length > 0) {
      for (const n of await this.store.nodes.list({ ids: missing })) {
        rows.set(n.id, { id: n.id, status: n.status, underlayIp: n.underlayIp });
      }
    }
    return ids.flatMap((id) => {
      const row = rows.get(id);
      return row ? [row] : [];
    });
  }
}
