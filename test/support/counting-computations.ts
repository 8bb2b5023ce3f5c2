import type { Store } from '../../src/ports/store.ts';

const bound = <T extends object>(target: T, key: string | symbol): unknown => {
  const value: unknown = Reflect.get(target, key, target);
  return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
};

/**
 * The store, counting how often each node's document is computed: every computation reads the
 * node's generation (`generations.get`) once. Everything else is the store's own.
 */
export function countingComputations(store: Store): {
  store: Store;
  /** Computations of `node`, or of every node when none is named. */
  computed(node?: string): number;
} {
  const counts = new Map<string, number>();
  const get: Store['generations']['get'] = (nodeId) => {
    counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
    return store.generations.get(nodeId);
  };
  const generations = new Proxy(store.generations, {
    get: (target, key) => (key === 'get' ? get : bound(target, key)),
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
