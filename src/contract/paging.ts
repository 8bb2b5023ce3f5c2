import { z } from 'zod';
import { CURSOR_PATTERN, MAX_CURSOR_LENGTH } from '../core/page-cursor.ts';

/**
 * Pages of a list route (docs/api.md, "Pages"). A request with `limit` or `cursor` is answered
 * with one page, `{items, nextCursor}`; one with neither gets the whole list as a bare array, as
 * before pages existed, so clients written then keep working.
 */
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

export const pageQueryShape = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_LIMIT).optional(),
  cursor: z.string().min(1).max(MAX_CURSOR_LENGTH).regex(CURSOR_PATTERN).optional(),
};

export const pageQuerySchema = z.strictObject(pageQueryShape);
export type PageQuery = z.output<typeof pageQuerySchema>;

export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

/** Whether a list request asked for a page rather than the whole list. */
export function wantsPage(query: PageQuery | undefined): boolean {
  return query?.limit !== undefined || query?.cursor !== undefined;
}
