import type { InstanceView, NodeView, PoolDetailView } from '../../contract/resources.ts';
import { DEFAULT_PUBLISH_ADDRESS } from '../../core/published-ports.ts';
import type { Block } from '../render.ts';

/** A published port as `mvm connect` names it: the URL on each node holding an instance. */
export interface PublishedAccess {
  pool: string;
  hostPort: number;
  guestPort: number;
  /** The nodes that forward it (those holding one of the pool's live instances). */
  nodes: string[];
  /** `http://<address>:<hostPort>/`: the address those nodes report (127.0.0.1 by default). */
  url: string;
}

/**
 * Each published port of the pools, once per address its nodes reach it at (`addresses`: node
 * id → where it binds published ports, as its heartbeats say; a node not in it, or no node
 * yet, counts at the default 127.0.0.1).
 */
export function publishedAccess(
  pools: readonly PoolDetailView[],
  instances: readonly InstanceView[],
  addresses: ReadonlyMap<string, string> = new Map(),
): PublishedAccess[] {
  return pools.flatMap((pool) =>
    (pool.publish ?? []).flatMap((p) => {
      const byAddress = new Map<string, string[]>();
      for (const node of nodesOf(pool.id, instances)) {
        const address = addresses.get(node) ?? DEFAULT_PUBLISH_ADDRESS;
        byAddress.set(address, [...(byAddress.get(address) ?? []), node]);
      }
      if (byAddress.size === 0) byAddress.set(DEFAULT_PUBLISH_ADDRESS, []);
      return [...byAddress].map(([address, nodes]) => ({
        pool: pool.id,
        hostPort: p.hostPort,
        guestPort: p.guestPort,
        nodes,
        url: `http://${address}:${p.hostPort}/`,
      }));
    }),
  );
}

/**
 * Where each node's published ports are reached, from its last heartbeat: its publish address,
 * or for one bound to every interface (0.0.0.0) its underlay address, else its hostname.
 */
export function publishAddresses(nodes: readonly NodeView[]): Map<string, string> {
  const addresses = new Map<string, string>();
  for (const node of nodes) {
    const bound = node.usage?.publishAddress;
    if (bound === undefined) continue;
    addresses.set(node.id, bound === '0.0.0.0' ? (node.underlayIp ?? node.hostname) : bound);
  }
  return addresses;
}

function nodesOf(pool: string, instances: readonly InstanceView[]): string[] {
  const live = instances.filter(
    (i) => i.poolId === pool && i.nodeId !== null && i.desiredStatus !== 'destroyed',
  );
  return [...new Set(live.map((i) => i.nodeId ?? ''))].sort();
}

export function publishedBlocks(published: readonly PublishedAccess[] | undefined): Block[] {
  if (!published || published.length === 0) return [];
  return [
    {
      kind: 'text',
      text: `published ports (at the address each node's agent reports: ${DEFAULT_PUBLISH_ADDRESS} unless its MVM_PUBLISH_ADDRESS says otherwise):`,
    },
    {
      kind: 'table',
      empty: 'none',
      columns: ['POOL', 'URL', 'GUEST PORT', 'NODES'],
      rows: published.map((p) => [
        p.pool,
        p.url,
        String(p.guestPort),
        p.nodes.join(', ') || 'none yet',
      ]),
    },
  ];
}
