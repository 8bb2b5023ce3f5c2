/**
 * Whether a signed desired-state document is new enough to believe. A valid signature says who
 * wrote a document, not when: an old one replayed to an agent (or restored into its data dir)
 * would undo everything since. Pure: the agent passes its mark and its clock's time.
 */

/** What an agent has seen so far; it only ever moves forward. */
export interface DesiredMark {
  /** The last accepted document's generation; 0 = none yet. */
  generation: number;
  /** When the coordinator signed that document; absent = none yet. */
  issuedAt?: string;
  /** The generation the coordinator last said it issued for this node (heartbeat); 0 = unknown. */
  coordinatorGeneration: number;
}

export const NO_MARK: DesiredMark = { generation: 0, coordinatorGeneration: 0 };

export interface FreshnessBounds {
  /** Anything not newer than this generation was already seen. */
  lastGeneration: number;
  /** Anything signed before this was superseded. */
  lastIssuedAt?: string;
  /** The coordinator has issued this generation: anything below it is stale. */
  minGeneration?: number;
  /** The age bound; absent: none (a document the agent itself kept, read back at start). */
  maxAgeMs?: number;
  /** The agent's time, in ms since the epoch; needed with maxAgeMs. */
  nowMs?: number;
}

export interface Staleness {
  reason: 'replay' | 'stale' | 'malformed';
  message: string;
  details: Record<string, unknown>;
}

/** Undefined when the document may be accepted; else why not, in words an operator can act on. */
export function documentStaleness(
  stamp: { generation: number; issuedAt: string },
  bounds: FreshnessBounds,
): Staleness | undefined {
  return byGeneration(stamp.generation, bounds) ?? byTime(stamp, bounds);
}

function byGeneration(generation: number, bounds: FreshnessBounds): Staleness | undefined {
  const details = { generation, lastGeneration: bounds.lastGeneration };
  if (generation <= bounds.lastGeneration) {
    const message = `generation ${generation} is not newer than the accepted ${bounds.lastGeneration}`;
    return { reason: 'replay', message, details };
  }
  const min = bounds.minGeneration ?? 0;
  if (generation < min) {
    return {
      reason: 'replay',
      message: `generation ${generation} is older than the ${min} the coordinator says it last issued for this node`,
      details: { ...details, coordinatorGeneration: min },
    };
  }
  return undefined;
}

function byTime(
  stamp: { generation: number; issuedAt: string },
  bounds: FreshnessBounds,
): Staleness | undefined {
  const issued = Date.parse(stamp.issuedAt);
  const details = { generation: stamp.generation, issuedAt: stamp.issuedAt };
  if (Number.isNaN(issued)) {
    return { reason: 'malformed', message: `issuedAt '${stamp.issuedAt}' is not a time`, details };
  }
  const last = bounds.lastIssuedAt === undefined ? Number.NaN : Date.parse(bounds.lastIssuedAt);
  if (issued < last) {
    return {
      reason: 'replay',
      message: `it was issued at ${stamp.issuedAt}, before the accepted document (${bounds.lastIssuedAt ?? ''})`,
      details: { ...details, lastIssuedAt: bounds.lastIssuedAt },
    };
  }
  return byAge(issued, stamp.issuedAt, bounds, details);
}

function byAge(
  issued: number,
  issuedAt: string,
  bounds: FreshnessBounds,
  details: Record<string, unknown>,
): Staleness | undefined {
  const { maxAgeMs, nowMs } = bounds;
  if (maxAgeMs === undefined || nowMs === undefined) return undefined;
  const age = nowMs - issued;
  const bound = `${Math.round(maxAgeMs / 1000)} s (maxDocumentAgeSecs)`;
  if (age > maxAgeMs) {
    return {
      reason: 'stale',
      message: `it was issued at ${issuedAt}, ${Math.round(age / 1000)} s ago, over the ${bound}: an old document replayed, or the coordinator's clock is behind this host's`,
      details: { ...details, ageMs: age, maxAgeMs },
    };
  }
  if (-age > maxAgeMs) {
    return {
      reason: 'stale',
      message: `it was issued at ${issuedAt}, ${Math.round(-age / 1000)} s in this host's future, over the ${bound}: fix the clock of the coordinator or of this host`,
      details: { ...details, ageMs: age, maxAgeMs },
    };
  }
  return undefined;
}

/** The mark after accepting a document: never moves back. */
export function advanceMark(
  mark: DesiredMark,
  stamp: { generation: number; issuedAt: string },
): DesiredMark {
  const later =
    mark.issuedAt === undefined || Date.parse(stamp.issuedAt) >= Date.parse(mark.issuedAt);
  return {
    generation: Math.max(mark.generation, stamp.generation),
    ...(later ? { issuedAt: stamp.issuedAt } : mark.issuedAt ? { issuedAt: mark.issuedAt } : {}),
    coordinatorGeneration: mark.coordinatorGeneration,
  };
}
