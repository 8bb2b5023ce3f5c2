import type { InstanceView, PoolDetailView } from '../../contract/resources.ts';
import { DEFAULT_PUBLISH_ADDRESS } from '../../core/published-ports.ts';
import type { Block } from '../render.ts';

/** A published port as `mvm connect` names it: the URL on each node holding an instance. */
export interface PublishedAccess {
  pool: string;
  hostPort: number;
  guestPort: number;
  /** The nodes that forward it (those holding one of the pool's live instances). */
  nodes: string[];
  /** `http://127.0.0.1:<hostPort>/` on those nodes (their MVM_PUBLISH_ADDRESS if set). */
  url: string;
}

export function publishedAccess(
  pools: readonly PoolDetailView[],
  instances: readonly InstanceView[],
): PublishedAccess[] {
  return pools.flatMap((pool) =>
    (pool.publish ?? []).map((p) => ({
      pool: pool.id,
      hostPort: p.hostPort,
      guestPort: p.guestPort,
      nodes: nodesOf(pool.id, instances),
      url: `http://${DEFAULT_PUBLISH_ADDRESS}:${p.hostPort}/`,
    })),
  );
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
      text: `published ports (each node binds them to ${DEFAULT_PUBLISH_ADDRESS} unless its MVM_PUBLISH_ADDRESS says otherwise):`,
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
