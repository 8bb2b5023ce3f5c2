import { ValidationError } from './errors.ts';

/**
 * Keyset pages: a list is read in the order of a unique key, and a page's cursor is the key of
 * its last item. The next page starts strictly after it, so rows inserted or deleted between two
 * reads never make a row appear twice or shift another one out of sight (an offset would).
 * The cursor is opaque to clients (base64url of the key's parts) but not secret: it names only
 * a row the caller has already been shown.
 */

/** The longest cursor accepted; a key is a few ids, far below it. */
export const MAX_CURSOR_LENGTH = 512;
export const CURSOR_PATTERN = /^[A-Za-z0-9_-]+$/;

export type PageKey = readonly string[];

export interface PageRequest {
  limit: number;
  /** The decoded cursor: the key the page starts after. */
  after: PageKey | undefined;
}

export interface Page<T> {
  items: T[];
  /** Absent (null) on the last page. */
  nextCursor: string | null;
}

export function encodeCursor(key: PageKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key a cursor names, which must have `arity` parts; a 400 for anything else. */
export function decodeCursor(cursor: string, arity: number): PageKey {
  const bad = () =>
    new ValidationError('invalid cursor: pass the nextCursor of the previous page, unchanged', [
      'query.cursor: not a cursor of this list',
    ]);
  if (cursor.length > MAX_CURSOR_LENGTH || !CURSOR_PATTERN.test(cursor)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const valid =
    Array.isArray(parsed) &&
    parsed.length === arity &&
    parsed.every((p) => typeof p === 'string' && p.length <= 200);
  if (!valid) throw bad();
  return parsed as string[];
}

/** -1, 0 or 1 comparing two keys part by part, as strings in code-unit order. */
export function compareKeys(a: PageKey, b: PageKey): number {
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * A page of `rows` read in key order starting after the cursor, with one row more than the
 * limit when there is more: that extra row is how the last page knows it is the last.
 */
export function pageFromRead<T>(
  rows: readonly T[],
  limit: number,
  keyOf: (t: T) => PageKey,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const more = rows.length > limit && last !== undefined;
  return { items, nextCursor: more ? encodeCursor(keyOf(last)) : null };
}

/** A page of an in-memory list (small lists: tenants, nodes, pools, tokens, secrets). */
export function pageOfList<T>(
  all: readonly T[],
  request: PageRequest,
  keyOf: (t: T) => PageKey,
): Page<T> {
  const sorted = [...all].sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  const after = request.after;
  const rest =
    after === undefined ? sorted : sorted.filter((t) => compareKeys(keyOf(t), after) > 0);
  return pageFromRead(rest.slice(0, request.limit + 1), request.limit, keyOf);
}
