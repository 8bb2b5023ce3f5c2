import { randomBytes } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ValidationError } from '../core/errors.ts';
import {
  isRequestId,
  MAX_REQUEST_ID_LENGTH,
  REQUEST_ID_HEADER,
  requestIdFrom,
} from '../core/request-id.ts';
import { withRequestId } from '../drivers/request-context.ts';
import type { Logger } from '../ports/logger.ts';
import { requestHeader } from './request-headers.ts';

export { currentRequestId, requestLogger } from '../drivers/request-context.ts';

/** Random bytes drawn from a pool filled 4 KiB at a time: one system call per 512 ids. */
function randomPool(size = 4096): (n: number) => Uint8Array {
  let pool = new Uint8Array(0);
  let at = 0;
  return (n) => {
    if (at + n > pool.length) {
      pool = randomBytes(size);
      at = 0;
    }
    at += n;
    return pool.subarray(at - n, at);
  };
}

/**
 * What the request path knows of one request: its id, the route it was routed to (its name, for
 * the latency metric; unset for answers outside the route table) and whether its answer's headers
 * are final: the id is in them (jsonAnswer), or a handler answered its own Response, which is
 * sent as it is.
 */
export interface RequestState {
  readonly id: string;
  readonly started: number;
  route: string | undefined;
  headersDone: boolean;
}

/** The state requestIds keeps for the request `c` serves, if it runs in front of it. */
export function requestStateOf(c: Context): RequestState | undefined {
  return c.get('request') as RequestState | undefined;
}

/** Where requestIds reports each routed request's latency (CoordinatorMetrics). */
export interface RequestLatency {
  request(route: string, method: string, code: number, seconds: number): void;
}

/**
 * Each request's id: the caller's X-Request-Id when it sent a valid one (a bad one is a 400),
 * else a fresh one. It is answered in X-Request-Id, and everything the request does runs with
 * it, so every log line written for it carries it (requestLogger). Once answered, the request
 * is logged and, if a route of the table served it, its latency observed under the route's
 * name: one middleware for the three, so a request pays one level of hono's chain for them.
 */
export function requestIds(
  logger: Logger | undefined,
  latency: RequestLatency | undefined,
): MiddlewareHandler {
  const random = randomPool();
  return async (c, next) => {
    const sent = requestHeader(c, REQUEST_ID_HEADER);
    const valid = sent !== undefined && isRequestId(sent);
    const id = valid ? sent : requestIdFrom(random(8));
    if (sent !== undefined && !valid) {
      c.header(REQUEST_ID_HEADER, id);
      throw new ValidationError(
        `invalid X-Request-Id header: 1 to ${MAX_REQUEST_ID_LENGTH} letters, digits and . _ : - (starting with a letter or digit), or leave it out`,
        ['header.x-request-id: not a request id'],
      );
    }
    const state: RequestState = {
      id,
      started: performance.now(),
      route: undefined,
      headersDone: false,
    };
    c.set('request', state);
    await withRequestId(id, next);
    // Set here, not before `next`: a header set before the answer makes hono build a fetch
    // Headers for every answer. The JSON answers carry the id already; the rest (the
    // dashboard's, a WebSocket's) get it added to theirs.
    if (!state.headersDone) c.header(REQUEST_ID_HEADER, id);
    const method = c.req.method;
    const status = c.res.status;
    if (state.route !== undefined) {
      latency?.request(state.route, method, status, (performance.now() - state.started) / 1000);
    }
    // One line per change made; reads are many (heartbeats, watches) and stay at debug.
    const line = { requestId: id, method, path: c.req.path, status };
    if (method === 'GET') logger?.debug(line, 'request');
    else logger?.info(line, 'request');
  };
}

/**
 * A JSON answer whose headers are a plain object with the request's id in them: built by hono's
 * `c.json` after a `c.header`, every answer would copy its headers through a fetch Headers, and
 * @hono/node-server would copy them out again. Only for answers nothing else set headers on.
 */
export function jsonAnswer(
  c: Context,
  body: unknown,
  status: number,
  extra?: Record<string, string>,
): Response {
  const state = requestStateOf(c);
  // Without requestIds in front (or before it set the id: a bad X-Request-Id), hono's own.
  if (state === undefined) return c.json(body, status as ContentfulStatusCode, extra);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...extra };
  headers[REQUEST_ID_HEADER] = state.id;
  state.headersDone = true;
  return new Response(JSON.stringify(body), { status, headers });
}
