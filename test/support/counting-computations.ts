import type { Store } from '../../src/ports/store.ts';

const bound = <T extends object>(target: T, key: string | symbol): unknown => {
  const value: unknown = Reflect.get(target, key, target);
  return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
};

/**
 * The store, counting how often each node's document is computed: every computation numbers
 * its content once, by a read of the node's generation (`generations.get`, followed by the
 * upsert when the content changed), or, when its content differs from the digest the replica
 * last saw, by the upsert alone (`generations.bump`). Everything else is the store's own.
 */
export function countingComputations(store: Store): {
  store: Store;
  /** Computations of `node`, or of every node when none is named. */
  computed(node?: string): number;
} {
  const counts = new Map<string, number>();
  const count = (nodeId: string) => counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
  /** Nodes whose last call was a read: an upsert next is the same computation's. */
  const read = new Set<string>();
  const get: Store['generations']['get'] = (nodeId) => {
    count(nodeId);
    read.add(nodeId);
    return store.generations.get(nodeId);
  };
  const bump: Store['generations']['bump'] = (nodeId, digest, at) => {
    if (!read.delete(nodeId)) count(nodeId);
    return store.generations.bump(nodeId, digest, at);
  };
  const methods: Record<string | symbol, unknown> = { get, bump };
  const generations = new Proxy(store.generations, {
    get: (target, key) => (key in methods ? methods[key] : bound(target, key)),
  });
  const counted = new Proxy(store, {
    get: (target, key) => (key === 'generations' ? generations : bound(target, key)),
  });
  return {
    store: counted,
    computed: (node) =>
      node === undefined
        ? [...counts.values()].reduce((a, b) => a + b, 0)
        : (counts.get(node) ?? 0),
  };
}
