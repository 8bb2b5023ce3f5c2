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
/**
 * A tenant's scope name, kept once made: a node's document weighs every tenant on it
 * (`watchedSum`, tenant-inputs' marks) each time its watcher wakes, and made afresh the
 * names were a few percent of what a scale's documents allocated. Bounded: emptied past
 * `SCOPE_NAMES_KEPT` names (tenants removed leave theirs behind).
 */
export function tenantScope(tenantId: string): string {
  let name = tenantScopes.get(tenantId);
  if (name === undefined) {
    if (tenantScopes.size >= SCOPE_NAMES_KEPT) tenantScopes.clear();
    name = `tenant:${tenantId}`;
    tenantScopes.set(tenantId, name);
  }
  return name;
}

const SCOPE_NAMES_KEPT = 100_000;
const tenantScopes = new Map<string, string>();

/** The scopes a change bumps; none for a change no document depends on (jobs only). */
export function changedScopes(change: MarkedChange): string[] {
  return [
    ...(change.fleet === true ? [FLEET_SCOPE] : []),
    ...(change.nodes ?? []).map(nodeScope),
    ...(change.tenants ?? []).map(tenantScope),
  ];
}

/**
 * The sum of the marks of the scopes one node's document depends on (the fleet, the node, its
 * tenants) in `values`, a scope never bumped counting 0: a watcher's every wake sums them over
 * every tenant on its node, so no list of them is made.
 */
export function watchedSum(
  values: ReadonlyMap<string, number>,
  nodeId: string,
  tenants: readonly string[],
): number {
  let total = (values.get(FLEET_SCOPE) ?? 0) + (values.get(nodeScope(nodeId)) ?? 0);
  for (const tenant of tenants) total += values.get(tenantScope(tenant)) ?? 0;
  return total;
}
