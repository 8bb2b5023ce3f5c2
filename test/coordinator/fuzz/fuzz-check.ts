import { bodyLimitOf, routes, type RouteDef } from '../../../src/contract/api.ts';
import { errorBodySchema } from '../../../src/contract/common.ts';
import type { CoordinatorApp } from '../../../src/coordinator/app.ts';
import { FUZZ_ADMIN, FUZZ_PEER_HEADER } from './fuzz-app.ts';
import {
  bodyBytes,
  rawBytes,
  type FuzzBody,
  type FuzzRequest,
  type UrlValue,
} from './fuzz-request.ts';

/** How one fuzz request is sent, and whether the contract says it is valid. */
const CHUNK = 64 * 1024;

/** Half a surrogate pair as the bytes a lax encoder (WTF-8) would send: not valid UTF-8. */
function wtf8(unit: number): string {
  const bytes = [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
  return bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
}

function segment(value: UrlValue): string {
  if (value.raw) return value.text;
  return [...value.text]
    .map((c) => (/\p{Cs}/u.test(c) ? wtf8(c.charCodeAt(0)) : encodeURIComponent(c)))
    .join('');
}

export function urlOf(request: FuzzRequest): string {
  const def: RouteDef = routes[request.route];
  const path = def.path.replace(/:([a-z]+)/g, (_, name: string) =>
    segment(request.params[name] ?? { text: '' }),
  );
  const query = Object.entries(request.query)
    .map(([name, value]) => `${encodeURIComponent(name)}=${segment(value)}`)
    .join('&');
  return `/v1${path}${query === '' ? '' : `?${query}`}`;
}

function wireText(body: FuzzBody): string {
  if (body.kind === 'raw') return rawBytes(body).toString('utf8');
  const text = JSON.stringify(body.value) ?? '';
  // Trailing whitespace keeps padded JSON valid JSON: only its size is over the limit.
  return body.kind === 'chunked' ? text.padEnd(body.padTo ?? 0, ' ') : text;
}

function streamOf(bytes: Buffer): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(offset, (offset += CHUNK)));
    },
  });
}

export function initOf(request: FuzzRequest): RequestInit {
  const def: RouteDef = routes[request.route];
  const headers: Record<string, string> = { authorization: `Bearer ${FUZZ_ADMIN}` };
  if (def.scope === 'node-certificate') headers[FUZZ_PEER_HEADER] = 'yes';
  const init: RequestInit & { duplex?: 'half' } = { method: def.method.toUpperCase(), headers };
  const body = request.body;
  if (body === undefined) return init;
  headers['content-type'] = body.kind === 'raw' ? body.contentType : 'application/json';
  if (body.kind === 'raw') init.body = rawBytes(body);
  else if (body.kind === 'json') init.body = wireText(body);
  else {
    init.body = streamOf(Buffer.from(wireText(body)));
    init.duplex = 'half';
  }
  return init;
}

function decoded(value: UrlValue): string[] {
  if (!value.raw) return [value.text];
  try {
    return [value.text, decodeURIComponent(value.text)];
  } catch {
    return [value.text];
  }
}

/** Every reading of the values the server may see (raw escapes decoded or not). */
function readings(values: Record<string, UrlValue>): Array<Record<string, string>> {
  return Object.entries(values).reduce<Array<Record<string, string>>>(
    (all, [name, value]) =>
      all.flatMap((partial) => decoded(value).map((text) => ({ ...partial, [name]: text }))),
    [{}],
  );
}

function bodyValid(def: RouteDef, body: FuzzBody | undefined): boolean {
  if (!def.body || body === undefined) return true;
  if (bodyBytes(body) > bodyLimitOf(def)) return false;
  const text = wireText(body);
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : (JSON.parse(text) as unknown);
  } catch {
    return false;
  }
  return def.body.safeParse(parsed).success;
}

/** The body as the server parses it, when it is JSON. */
export function parsedBody(body: FuzzBody | undefined): unknown {
  if (body === undefined) return undefined;
  try {
    return JSON.parse(wireText(body)) as unknown;
  } catch {
    return undefined;
  }
}

/** Whether the contract accepts the request: only then may it succeed. */
export function validByContract(request: FuzzRequest): boolean {
  const def: RouteDef = routes[request.route];
  const paramsOk = readings(request.params).some(
    (params) => def.params?.safeParse(params).success ?? true,
  );
  const queryOk = readings(request.query).some((query) =>
    def.query ? def.query.safeParse(query).success : Object.keys(query).length === 0,
  );
  return paramsOk && queryOk && bodyValid(def, request.body);
}

export interface Answer {
  status: number;
  json: unknown;
}

export async function send(app: CoordinatorApp['app'], request: FuzzRequest): Promise<Answer> {
  const response = await app.request(urlOf(request), initOf(request));
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = text;
  }
  return { status: response.status, json };
}

/** What is wrong with an answer, if anything, given whether the request was valid. */
export function answerProblem(
  request: FuzzRequest,
  valid: boolean,
  answer: Answer,
): string | undefined {
  if (answer.status >= 500) return `answered ${answer.status}`;
  if (answer.status < 300) {
    if (!valid) return `an invalid request succeeded (${answer.status})`;
    const def: RouteDef = routes[request.route];
    // A list asked for a page (limit or cursor) answers one (contract/paging.ts).
    const paged = 'limit' in request.query || 'cursor' in request.query;
    const shape = (paged && def.page ? def.page : def.response).safeParse(answer.json);
    return shape.success ? undefined : 'succeeded with an answer outside the contract';
  }
  if (answer.status < 400) return `answered ${answer.status}`;
  const error = errorBodySchema.safeParse(answer.json);
  if (!error.success) return `answered ${answer.status} without an mvm error body`;
  if (error.data.error.code === 'internal') return 'answered an internal error';
  if (JSON.stringify(answer.json).length > 20_000) return 'answered an error body over 20 kB';
  return undefined;
}

/** A request for a failure message: what was sent, cut to a readable size. */
export function describe(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : ` body ${wireText(request.body).slice(0, 300)}`;
  return `${request.route} (${request.what}): ${routes[request.route].method.toUpperCase()} ${urlOf(request).slice(0, 300)}${body}`;
}
