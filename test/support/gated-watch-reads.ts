import type { Store } from '../../src/ports/store.ts';
import { overriding } from './store-proxy.ts';

/** Holds a store's change-index reads (`instances.changesSince`) while closed. */
export interface WatchReadGate {
  /** From now on, change reads wait until `open`. */
  close(): void;
  open(): void;
  /** How many change reads are waiting at the gate. */
  waiting(): number;
}

/**
 * The real store, except that watches' change reads wait at a gate the test controls: what a
 * replica whose reads stall (or lag) sees, without a race against the 500 ms poll. Everything
 * else, and every read let through, is the store's own.
 */
export function gatedWatchReads(store: Store): { store: Store; gate: WatchReadGate } {
  let held: Promise<void> | undefined;
  let release = () => {};
  let waiting = 0;
  const changesSince: Store['instances']['changesSince'] = async (since, scope) => {
    while (held) {
      waiting += 1;
      try {
        await held;
      } finally {
        waiting -= 1;
      }
    }
    return store.instances.changesSince(since, scope);
  };
  const instances = overriding(store.instances, { changesSince });
  const gated = overriding(store, { instances });
  const gate: WatchReadGate = {
    close() {
      held ??= new Promise<void>((r) => (release = r));
    },
    open() {
      held = undefined;
      release();
    },
    waiting: () => waiting,
  };
  return { store: gated, gate };
}
