import type { z } from 'zod';
import { fillPath, routes } from '../../contract/api.ts';
import type { JsonRouteName, RouteDef, Routes } from '../../contract/api.ts';
import { errorBodySchema } from '../../contract/common.ts';
import { REQUEST_ID_HEADER, requestIdFrom } from '../../core/request-id.ts';
import { DEFAULT_PAGE_LIMIT, wantsPage, type PageQuery } from '../../contract/paging.ts';
import { errorCodeOfStatus } from '../../contract/http-status.ts';
import {
  errorFromWire,
  InternalError,
  MvmError,
  UnavailableError,
  ValidationError,
} from '../../core/errors.ts';

/**
 * A typed client for the coordinator built from the `routes` table. Requests are validated
 * before they are sent (bad input never leaves the machine), responses are validated before
 * they are returned, and every failure arrives as an MvmError.
 */
export type FetchLike = (request: Request) => Response | Promise<Response>;

type Route<N extends JsonRouteName> = Routes[N];
type Part<N extends JsonRouteName, K extends 'params' | 'query' | 'body'> =
  Route<N> extends Record<K, z.ZodType> ? Route<N>[K] : never;

export type CallInput<N extends JsonRouteName> = ([Part<N, 'params'>] extends [never]
  ? { params?: undefined }
  : { params: z.input<Part<N, 'params'>> }) &
  ([Part<N, 'query'>] extends [never]
    ? { query?: undefined }
    : { query?: z.input<Part<N, 'query'>> }) &
  ([Part<N, 'body'>] extends [never] ? { body?: undefined } : { body: z.input<Part<N, 'body'>> });

export type CallOutput<N extends JsonRouteName> = z.output<Route<N>['response']>;

/** List routes, which answer one page when asked for one (contract/paging.ts). */
export type PagedRouteName = {
  [K in JsonRouteName]: Routes[K] extends { page: z.ZodType } ? K : never;
}[JsonRouteName];
export type PageOutput<N extends PagedRouteName> = z.output<Routes[N]['page']>;

/** Per call: a caller's cancellation, and a deadline other than the client's default (0: none). */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** The X-Request-Id to send (the coordinator logs it with the request); default: a fresh one. */
  requestId?: string;
}

/** A byte route's call: the bytes to send (upload routes) and extra headers (Range). */
export interface OpenOptions extends CallOptions {
  body?: ReadableStream<Uint8Array> | Uint8Array;
  headers?: Record<string, string>;
}

export interface ApiClient {
  readonly baseUrl: string;
  call<N extends JsonRouteName>(
    name: N,
    input: CallInput<N>,
    options?: CallOptions,
  ): Promise<CallOutput<N>>;
  /** One page of a list route; `query.limit` and `query.cursor` choose it (pages.ts follows them). */
  page<N extends PagedRouteName>(
    name: N,
    input: CallInput<N>,
    options?: CallOptions,
  ): Promise<PageOutput<N>>;
  /**
   * Calls a route whose body or answer is bytes (contract/api.ts `stream`) and returns the
   * Response once its status is a success, its body unread; a failure is an MvmError.
   */
  open<N extends JsonRouteName>(
    name: N,
    input: CallInput<N>,
    options?: OpenOptions,
  ): Promise<Response>;
}

export interface ApiClientOptions {
  baseUrl: string;
  token?: string;
  fetch?: FetchLike;
  timeoutMs?: number;
}

interface LooseInput {
  params?: unknown;
  query?: unknown;
  body?: unknown;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const client: ApiClient = {
    baseUrl,
    async call<N extends JsonRouteName>(
      name: N,
      input: CallInput<N>,
      call: CallOptions = {},
    ): Promise<CallOutput<N>> {
      const route: RouteDef = routes[name];
      const deadline = call.timeoutMs ?? timeoutMs;
      const timeout = AbortSignal.timeout(deadline);
      const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
      const request = buildRequest(baseUrl, route, input as LooseInput, options.token, signal, {
        ...(call.requestId !== undefined ? { requestId: call.requestId } : {}),
      });
      const response = await exchange(send, request, baseUrl, deadline);
      const text = await readBody(response, route, baseUrl, deadline);
      // A list asked for a page is answered with one: its shape is the route's `page`.
      const paged = route.page !== undefined && wantsPage(input.query as PageQuery | undefined);
      const shape = paged && route.page ? route.page : route.response;
      const json = parseJson(text);
      // A server that answered the whole list anyway: that list is the one and last page.
      const answer = paged && Array.isArray(json) ? { items: json, nextCursor: null } : json;
      return readResponse(shape, response, answer, name, baseUrl) as CallOutput<N>;
    },
    async page<N extends PagedRouteName>(name: N, input: CallInput<N>, call: CallOptions = {}) {
      const query = { limit: DEFAULT_PAGE_LIMIT, ...(input.query as object | undefined) };
      const answer: unknown = await client.call(name, { ...input, query } as CallInput<N>, call);
      return answer as PageOutput<N>;
    },
    async open<N extends JsonRouteName>(name: N, input: CallInput<N>, call: OpenOptions = {}) {
      const route: RouteDef = routes[name];
      const deadline = call.timeoutMs ?? timeoutMs;
      const signals = [
        ...(call.signal ? [call.signal] : []),
        ...(deadline > 0 ? [AbortSignal.timeout(deadline)] : []),
      ];
      const signal = AbortSignal.any(signals);
      const request = buildRequest(
        baseUrl,
        route,
        input as LooseInput,
        options.token,
        signal,
        call,
      );
      const response = await exchange(send, request, baseUrl, deadline);
      if (response.ok) return response;
      const text = await readBody(response, route, baseUrl, deadline);
      throw errorFromResponse(response, parseJson(text), baseUrl);
    },
  };
  return client;
}

function issuesOf(part: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const at = [part, ...issue.path.map(String)].filter((s) => s !== '').join('.');
    return `${at}: ${issue.message}`;
  });
}

function check(
  schema: z.ZodType | undefined,
  value: unknown,
  part: string,
  problems: string[],
): unknown {
  if (schema === undefined) return value;
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  problems.push(...issuesOf(part, result.error));
  return undefined;
}

function stringifyQuery(query: unknown): Record<string, string> {
  const entries = Object.entries((query ?? {}) as Record<string, unknown>);
  return Object.fromEntries(
    entries.filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]),
  );
}

function buildRequest(
  baseUrl: string,
  route: RouteDef,
  input: LooseInput,
  token: string | undefined,
  signal: AbortSignal,
  bytes: Pick<OpenOptions, 'body' | 'headers' | 'requestId'> = {},
): Request {
  const problems: string[] = [];
  const params = check(route.params, input.params, '', problems) as
    Record<string, string> | undefined;
  const query = stringifyQuery(input.query);
  check(route.query, query, 'query', problems);
  const body = route.body === undefined ? undefined : check(route.body, input.body, '', problems);
  if (problems.length > 0) {
    throw new ValidationError(
      `invalid request to ${route.summary.toLowerCase()}; nothing was sent`,
      problems,
    );
  }
  const search = new URLSearchParams(query).toString();
  const url = `${baseUrl}/v1${fillPath(route.path, params ?? {})}${search === '' ? '' : `?${search}`}`;
  const headers: Record<string, string> = {
    accept: 'application/json',
    [REQUEST_ID_HEADER]:
      bytes.requestId ?? requestIdFrom(crypto.getRandomValues(new Uint8Array(8))),
    ...bytes.headers,
  };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bytes.body !== undefined) headers['content-type'] = 'application/octet-stream';
  const payload = bytes.body ?? (body === undefined ? undefined : JSON.stringify(body));
  // A stream body goes out as it is read (fetch's half duplex), never whole in memory.
  const init: RequestInit & { duplex?: 'half' } = {
    method: route.method.toUpperCase(),
    headers,
    ...(payload === undefined ? {} : { body: payload }),
    ...(payload instanceof ReadableStream ? { duplex: 'half' } : {}),
    signal,
  };
  return new Request(url, init);
}

/** TLS failures that mean "this client does not trust the server's CA". */
const UNTRUSTED =
  /SELF_SIGNED_CERT|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED|self[- ]signed/i;

function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    return typeof code === 'string' && !cause.message.includes(code)
      ? `${code} ${cause.message}`
      : cause.message;
  }
  return error.message;
}

async function exchange(
  send: FetchLike,
  request: Request,
  baseUrl: string,
  timeoutMs: number,
): Promise<Response> {
  try {
    return await send(request);
  } catch (error) {
    if (error instanceof MvmError) throw error;
    if (request.signal.aborted && error instanceof Error && error.name === 'AbortError') {
      throw new UnavailableError(`the request to the coordinator at ${baseUrl} was cancelled`, {
        url: baseUrl,
      });
    }
    const reason = failureReason(error, timeoutMs);
    const hint = UNTRUSTED.test(reason)
      ? "pass the coordinator's CA certificate with --ca-file (env MVM_CA_FILE)"
      : "start it with 'mvm coordinator serve' or set --coordinator";
    throw new UnavailableError(`cannot reach the coordinator at ${baseUrl}: ${reason}; ${hint}`, {
      url: baseUrl,
    });
  }
}

function failureReason(error: unknown, timeoutMs: number): string {
  return error instanceof Error && error.name === 'TimeoutError'
    ? `no answer within ${timeoutMs / 1000}s`
    : describeCause(error);
}

/**
 * The answer's body. A connection that breaks after the status line (coordinator killed, a
 * proxy cut it, a network drop) is the coordinator being unreachable, not a CLI bug; and a
 * change may have been made although its answer never arrived.
 */
async function readBody(
  response: Response,
  route: RouteDef,
  baseUrl: string,
  timeoutMs: number,
): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    if (error instanceof MvmError) throw error;
    const next =
      route.method === 'get'
        ? 'retry; if it keeps happening, look at the coordinator log and any proxy in between'
        : "the change may have been made; check with the matching 'mvm … list' or 'info' command before retrying";
    throw new UnavailableError(
      `the connection to the coordinator at ${baseUrl} broke while it answered (${failureReason(error, timeoutMs)}); ${next}`,
      { url: baseUrl },
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function readResponse(
  shape: z.ZodType,
  response: Response,
  json: unknown,
  name: string,
  baseUrl: string,
): unknown {
  if (!response.ok) throw errorFromResponse(response, json, baseUrl);
  const parsed = shape.safeParse(json);
  if (!parsed.success) {
    throw new InternalError(
      `the coordinator's answer to ${name} does not match this CLI's contract; are the CLI and coordinator the same version?`,
      { problems: issuesOf('response', parsed.error) },
    );
  }
  return parsed.data;
}

function errorFromResponse(response: Response, json: unknown, baseUrl: string): MvmError {
  const body = errorBodySchema.safeParse(json);
  // The id the coordinator logged the request under: what to look for in its log.
  const requestId = response.headers.get(REQUEST_ID_HEADER);
  if (body.success) {
    const { code, message, details } = body.data.error;
    return errorFromWire(code, message, requestId === null ? details : { ...details, requestId });
  }
  const code = errorCodeOfStatus(response.status);
  return new MvmError(
    code,
    `the server at ${baseUrl} answered HTTP ${response.status} without an mvm error body; is --coordinator pointing at an mvm coordinator?`,
  );
}
