import { parseIpv4 } from './ipv4.ts';
import type { FleetNode, Instance } from './model.ts';

export type PeerNode = Pick<FleetNode, 'id' | 'status' | 'underlayIp'>;
export type PeerInstance = Pick<Instance, 'tenantId' | 'nodeId' | 'desiredStatus'>;

const byAddress = (a: string, b: string): number => parseIpv4(a) - parseIpv4(b);

/**
 * Each tenant's VXLAN flood list as seen from one node: the underlay addresses of the other
 * nodes holding at least one live instance of the tenant. A lost node is left out (nothing
 * there answers, and flooding to it only wastes the underlay), and so is a node that never
 * said where it is reached. Lists are de-duplicated and in address order, so equal fleets
 * give equal documents.
 */
export function tenantPeers(
  nodeId: string,
  nodes: readonly PeerNode[],
  instances: readonly PeerInstance[],
): Map<string, string[]> {
  const held = new Map<string, Set<string>>();
  for (const i of instances) {
    if (i.desiredStatus === 'destroyed' || i.nodeId === null) continue;
    const ids = held.get(i.tenantId) ?? new Set<string>();
    ids.add(i.nodeId);
    held.set(i.tenantId, ids);
  }
  const byTenant = [...held].map(([tenantId, ids]) => ({ tenantId, nodeIds: [...ids] }));
  return tenantPeersByNodes(nodeId, nodes, byTenant);
}

/**
 * tenantPeers() from where each tenant's live instances are (one entry per tenant with its
 * node ids, as the store aggregates them) rather than one entry per instance.
 */
export function tenantPeersByNodes(
  nodeId: string,
  nodes: readonly PeerNode[],
  held: ReadonlyArray<{ tenantId: string; nodeIds: readonly string[] }>,
): Map<string, string[]> {
  const reachable = reachableNodes(nodeId, nodes);
  const peers = new Map<string, string[]>();
  for (const { tenantId, nodeIds } of held) {
    const set = new Set<string>();
    for (const id of nodeIds) {
      const address = reachable.get(id);
      if (address !== undefined) set.add(address);
    }
    if (set.size > 0) peers.set(tenantId, [...(peers.get(tenantId) ?? []), ...set]);
  }
  return new Map([...peers].map(([tenant, list]) => [tenant, [...new Set(list)].sort(byAddress)]));
}

/** The other nodes' underlay addresses a node may flood to, by node id. */
function reachableNodes(nodeId: string, nodes: readonly PeerNode[]): Map<string, string> {
  const own = nodes.find((n) => n.id === nodeId)?.underlayIp ?? null;
  const reachable = new Map<string, string>();
  for (const n of nodes) {
    if (n.id === nodeId || n.status === 'lost' || n.underlayIp === null) continue;
    // Two nodes claiming this node's own address would make it flood to itself.
    if (n.underlayIp !== own) reachable.set(n.id, n.underlayIp);
  }
  return reachable;
}
