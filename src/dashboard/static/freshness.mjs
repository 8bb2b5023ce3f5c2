/**
 * Whether what the page holds may be believed. A node is stale once its last heartbeat is
 * older than the coordinator's lost-after time (or it is declared lost); an instance on a
 * stale node shows `stale`, never the status last reported, which nobody vouches for now.
 * Pure: values in, values out.
 */
export function nodeStale(node, nowMs, staleAfterMs) {
  if (node.status === 'lost') return true;
  const heard = Date.parse(node.lastHeartbeat ?? node.createdAt ?? '');
  return Number.isNaN(heard) || nowMs - heard > staleAfterMs;
}

/** The status to show for an instance, given the freshness of the nodes (by id) it may be on. */
export function shownStatus(instance, staleNodes) {
  if (instance.nodeId !== null && staleNodes.has(instance.nodeId)) return 'stale';
  return instance.status;
}

/** "4 s", "3 min", "2 h": how long ago, for people. */
export function age(iso, nowMs) {
  const at = Date.parse(iso ?? '');
  if (Number.isNaN(at)) return 'never';
  const s = Math.max(0, Math.round((nowMs - at) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
