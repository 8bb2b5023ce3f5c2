import type { Store } from '../../src/ports/store.ts';
import { overriding } from './store-proxy.ts';

/**
 * The store, counting how often each node's document is computed: every computation numbers
 * its content once, by a read of the node's generation (`generations.get`, followed by the
 * upsert when the content changed), or, when its content differs from the digest the replica
 * last saw, by the upsert alone (`generations.bump`). Everything else is the store's own.
 * Counted per node; a node's computations are assumed not to overlap.
 */
export function countingComputations(store: Store): {
  store: Store;
  /** Computations of `node`, or of every node when none is named. */
  computed(node?: string): number;
} {
  const counts = new Map<string, number>();
  const count = (nodeId: string) => counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
  /**
   * Nodes whose generation read has just answered: an upsert made before the event loop
   * turns is the same computation's (the service upserts right after the read it awaited).
   */
  const read = new Set<string>();
  const get: Store['generations']['get'] = async (nodeId) => {
    count(nodeId);
    const answer = await store.generations.get(nodeId);
    read.add(nodeId);
    setImmediate(() => read.delete(nodeId));
    return answer;
  };
  const bump: Store['generations']['bump'] = (nodeId, digest, at) => {
    if (!read.delete(nodeId)) count(nodeId);
    return store.generations.bump(nodeId, digest, at);
  };
  const generations = overriding(store.generations, { get, bump });
  return {
    store: overriding(store, { generations }),
    computed: (node) =>
      node === undefined
        ? [...counts.values()].reduce((a, b) => a + b, 0)
        : (counts.get(node) ?? 0),
  };
}
