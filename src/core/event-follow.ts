/**
 * Following an append-only log whose ids are handed out before their transactions commit
 * (audit events on Postgres): id 9 may become visible after id 10, so reading "above the last
 * id sent" could skip it for good. A follower reads above a low-water mark instead, which
 * trails what it sent by `settleMs` (longer than a transaction stays open), and skips what it
 * already sent above the mark. Each read covers at most the last `settleMs` of events.
 */
export interface FollowState {
  /** Every id at or below it was sent, or can no longer appear. */
  lowWater: number;
  /** Ids above lowWater already sent, with when (ms). */
  sent: ReadonlyMap<number, number>;
}

export function startFollow(afterId: number): FollowState {
  return { lowWater: afterId, sent: new Map() };
}

/** The ids to send of a read above `state.lowWater`, in order, and the state for the next. */
export function advanceFollow(
  state: FollowState,
  readIds: readonly number[],
  nowMs: number,
  settleMs: number,
): { send: number[]; next: FollowState } {
  const send = readIds.filter((id) => id > state.lowWater && !state.sent.has(id));
  const sent = new Map(state.sent);
  for (const id of send) sent.set(id, nowMs);
  let lowWater = state.lowWater;
  for (const [id, at] of sent) if (nowMs - at >= settleMs && id > lowWater) lowWater = id;
  for (const id of [...sent.keys()]) if (id <= lowWater) sent.delete(id);
  return { send, next: { lowWater, sent } };
}
