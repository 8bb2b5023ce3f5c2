import type { ApiClient, CallInput, PagedRouteName, PageOutput } from './api-client.ts';

type Item<N extends PagedRouteName> = PageOutput<N>['items'][number];

/** Pages as large as the server allows: fewer round trips for a whole list. */
export const FOLLOW_PAGE_LIMIT = 1000;

/**
 * Every item of a list route, page after page (each request's cursor is the last answer's
 * nextCursor), until the last page. Items inserted behind the cursor while it runs are not
 * seen, and none is seen twice (core/page-cursor.ts).
 */
export async function* pagesOf<N extends PagedRouteName>(
  client: ApiClient,
  name: N,
  input: CallInput<N>,
  limit = FOLLOW_PAGE_LIMIT,
): AsyncGenerator<Item<N>[]> {
  let cursor: string | undefined;
  do {
    const query = { ...(input.query as object | undefined), limit, ...(cursor ? { cursor } : {}) };
    const page = await client.page(name, { ...input, query } as CallInput<N>);
    yield page.items as Item<N>[];
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}

/** The whole list, read page by page. */
export async function listAll<N extends PagedRouteName>(
  client: ApiClient,
  name: N,
  input: CallInput<N>,
  limit = FOLLOW_PAGE_LIMIT,
): Promise<Item<N>[]> {
  const all: Item<N>[] = [];
  for await (const items of pagesOf(client, name, input, limit)) all.push(...items);
  return all;
}
