// Types for the Node tests of freshness.mjs (the browser loads the .mjs as it is).
export interface NodeSeen {
  status: string;
  lastHeartbeat: string | null;
  createdAt?: string;
}
export function nodeStale(node: NodeSeen, nowMs: number, staleAfterMs: number): boolean;
export function shownStatus(
  instance: { nodeId: string | null; status: string },
  staleNodes: ReadonlySet<string>,
): string;
export function age(iso: string | null | undefined, nowMs: number): string;
