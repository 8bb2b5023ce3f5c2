import { createParser } from '../vendor/eventsource-parser.mjs';

/**
 * The /v1 API with the token the user logged in with. The token lives in this tab's
 * sessionStorage and travels only in the Authorization header, never in a URL (URLs land in
 * logs and history).
 */
const KEY = 'mvm.token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  login: (token) => sessionStorage.setItem(KEY, token),
  logout: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra = {}) {
  return { authorization: `Bearer ${session.token() ?? ''}`, ...extra };
}

async function failure(response) {
  const body = await response.json().catch(() => undefined);
  const error = body?.error;
  return new ApiError(
    response.status,
    error?.code ?? 'http',
    error?.message ?? `${response.status} ${response.statusText}`,
  );
}

function url(path, query = {}) {
  const q = new URLSearchParams(
    Object.entries(query).filter(([, v]) => v !== undefined && v !== ''),
  ).toString();
  return `/v1${path}${q ? `?${q}` : ''}`;
}

/**
 * A list route's items. Tolerates a paged answer ({ items, nextCursor }) as well as a bare
 * array, following every page.
 */
export async function list(path, query = {}) {
  const items = [];
  let cursor;
  for (;;) {
    const page = await get(path, cursor === undefined ? query : { ...query, cursor });
    if (Array.isArray(page)) return page;
    items.push(...(page.items ?? []));
    cursor = page.nextCursor ?? undefined;
    if (cursor === undefined || cursor === null) return items;
  }
}

export async function get(path, query = {}) {
  const response = await fetch(url(path, query), { headers: headers() });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function text(path, query = {}) {
  const response = await fetch(url(path, query), { headers: headers() });
  if (!response.ok) throw await failure(response);
  return response.text();
}

export async function post(path, body) {
  const response = await fetch(url(path), {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/**
 * A server-sent event stream read with fetch, so the token goes in a header (EventSource
 * cannot send one). `onEvent(name, data, id)` gets each event's name, parsed data and id (when
 * it has one). With `lastEventId` the stream resumes after it (the `Last-Event-ID` header, as
 * EventSource sends it). Resolves when the stream ends or `signal` aborts; throws when it
 * cannot be opened.
 */
async function stream(path, query, signal, onEvent, lastEventId) {
  const extra = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) extra['last-event-id'] = lastEventId;
  const response = await fetch(url(path, query), { headers: headers(extra), signal });
  if (!response.ok || !response.body) throw await failure(response);
  const parser = createParser({
    onEvent: (e) => onEvent(e.event ?? 'message', JSON.parse(e.data), e.id),
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(value);
    }
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
}

/** Audit events as they are written (GET /v1/events/follow). */
export function follow(query, signal, onEvent) {
  return stream('/events/follow', query, signal, (_name, event) => onEvent(event));
}

/**
 * The instances list as it changes (GET /v1/instances/watch): `onChange({type, instance}, id)`
 * for each instance of the list (`added`), `onChange({type: 'synced'}, id)` once the list is
 * whole, then each change as `added`, `modified` or `deleted` — agents' status reports too,
 * which are not audit events. `id` is set on the last event of each batch: given back as
 * `since`, the watch resumes after it with `{type: 'resumed'}` and only what changed since,
 * or, when the coordinator no longer has the deletions since then (pruned), with
 * `{type: 'reset'}` and the whole list again.
 */
export function watchInstances(query, signal, onChange, since) {
  return stream(
    '/instances/watch',
    query,
    signal,
    (name, data, id) =>
      onChange(
        name === 'synced' || name === 'resumed' || name === 'reset' ? { type: name } : data,
        id,
      ),
    since,
  );
}
