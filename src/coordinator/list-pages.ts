import { wantsPage, DEFAULT_PAGE_LIMIT, type PageQuery } from '../contract/paging.ts';
import { ValidationError } from '../core/errors.ts';
import {
  decodeCursor,
  pageFromRead,
  pageOfList,
  type Page,
  type PageKey,
  type PageRequest,
} from '../core/page-cursor.ts';

/**
 * How a list route answers (contract/paging.ts): the whole list when the query asks for no page,
 * else one page. Large lists (instances, events, jobs) read their page from the store by key;
 * the small ones (tenants, nodes, pools, tokens, secrets, revisions) page the list they read.
 */
export function pageRequestOf(query: PageQuery, arity: number): PageRequest {
  return {
    limit: query.limit ?? DEFAULT_PAGE_LIMIT,
    after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, arity),
  };
}

/** A small list: read whole, then paged in key order. */
export async function listOrPage<T>(
  query: PageQuery,
  arity: number,
  keyOf: (t: T) => PageKey,
  read: () => Promise<T[]>,
): Promise<T[] | Page<T>> {
  if (!wantsPage(query)) return read();
  // The cursor is checked before anything is read: a bad one is a 400 even on an empty list.
  const request = pageRequestOf(query, arity);
  return pageOfList(await read(), request, keyOf);
}

/**
 * A large list: `readPage` reads at most `limit` rows after a key in key order from the store;
 * `whole` is the answer to a request that asked for no page.
 */
export async function storePage<T>(
  query: PageQuery,
  arity: number,
  keyOf: (t: T) => PageKey,
  readPage: (after: PageKey | undefined, limit: number) => Promise<T[]>,
  whole: () => Promise<T[]>,
): Promise<T[] | Page<T>> {
  if (!wantsPage(query)) return whole();
  const request = pageRequestOf(query, arity);
  // One row more than asked says whether another page follows.
  const rows = await readPage(request.after, request.limit + 1);
  return pageFromRead(rows, request.limit, keyOf);
}

/** A numeric key part (an audit event id) from a decoded cursor; a 400 for anything else. */
export function numericPart(part: string | undefined): number {
  if (part === undefined || !/^\d{1,10}$/.test(part)) {
    throw new ValidationError(
      'invalid cursor: pass the nextCursor of the previous page, unchanged',
      ['query.cursor: not a cursor of this list'],
    );
  }
  return Number(part);
}
