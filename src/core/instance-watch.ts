/**
 * `instance list --watch`: what changed between two reads of the same list of instances. Each
 * instance is known by its key and a fingerprint of everything shown about it, so any change a
 * reader could see is a change, and a row gone from the list is a deletion. The server diffs
 * its reads to stream changes; a client that reconnects diffs the fresh list against its own
 * view, so it shows only what changed while it was away.
 */
export type WatchChangeType = 'added' | 'modified' | 'deleted';

export interface WatchChange<T> {
  type: WatchChangeType;
  key: string;
  /** The instance as now (the last seen, for a deletion). */
  item: T;
}

export interface WatchView<T> {
  /** key → [fingerprint, item] */
  readonly rows: ReadonlyMap<string, readonly [string, T]>;
}

export function emptyView<T>(): WatchView<T> {
  return { rows: new Map() };
}

/** The changes from `view` to the list `now`, in the list's order then deletions, and the new view. */
export function diffView<T>(
  view: WatchView<T>,
  now: readonly T[],
  keyOf: (item: T) => string,
  fingerprintOf: (item: T) => string,
): { changes: WatchChange<T>[]; next: WatchView<T> } {
  const rows = new Map<string, readonly [string, T]>();
  const changes: WatchChange<T>[] = [];
  for (const item of now) {
    const key = keyOf(item);
    const fingerprint = fingerprintOf(item);
    rows.set(key, [fingerprint, item]);
    const before = view.rows.get(key);
    if (before === undefined) changes.push({ type: 'added', key, item });
    else if (before[0] !== fingerprint) changes.push({ type: 'modified', key, item });
  }
  for (const [key, [, item]] of view.rows) {
    if (!rows.has(key)) changes.push({ type: 'deleted', key, item });
  }
  return { changes, next: { rows } };
}
