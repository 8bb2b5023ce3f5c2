/**
 * Names for the store's document marks (migration 0019): counters a committed change bumps for
 * every scope it concerns, so a watcher on any replica learns, with one indexed read of its own
 * scopes, whether its node's document may have changed, instead of recomputing it. The scopes
 * mirror what a document depends on (coordinator/desired/change-notifier.ts): the node's own
 * instances, its tenants, and the fleet (node status and addresses, every document's peers).
 */
export interface MarkedChange {
  nodes?: readonly string[];
  tenants?: readonly string[];
  fleet?: boolean;
}

export const FLEET_SCOPE = 'fleet';
export const nodeScope = (nodeId: string) => `node:${nodeId}`;
export const tenantScope = (tenantId: string) => `tenant:${tenantId}`;

/** The scopes a change bumps; none for a change no document depends on (jobs only). */
export function changedScopes(change: MarkedChange): string[] {
  return [
    ...(change.fleet === true ? [FLEET_SCOPE] : []),
    ...(change.nodes ?? []).map(nodeScope),
    ...(change.tenants ?? []).map(tenantScope),
  ];
}

/** The scopes one node's document depends on. */
export function watchedScopes(nodeId: string, tenants: readonly string[]): string[] {
  return [FLEET_SCOPE, nodeScope(nodeId), ...tenants.map(tenantScope)];
}
