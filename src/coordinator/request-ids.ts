import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
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
 * Each request's id: the caller's X-Request-Id when it sent a valid one (a bad one is a 400),
 * else a fresh one. It is answered in X-Request-Id, and everything the request does runs with
 * it, so every log line written for it carries it (requestLogger).
 */
export function requestIds(logger: Logger | undefined): MiddlewareHandler {
  const random = randomPool();
  return async (c, next) => {
    const sent = requestHeader(c, REQUEST_ID_HEADER);
    const valid = sent !== undefined && isRequestId(sent);
    const id = valid ? sent : requestIdFrom(random(8));
    c.header(REQUEST_ID_HEADER, id);
    if (sent !== undefined && !valid) {
      throw new ValidationError(
        `invalid X-Request-Id header: 1 to ${MAX_REQUEST_ID_LENGTH} letters, digits and . _ : - (starting with a letter or digit), or leave it out`,
        ['header.x-request-id: not a request id'],
      );
    }
    await withRequestId(id, next);
    // One line per change made; reads are many (heartbeats, watches) and stay at debug.
    const line = { method: c.req.method, path: c.req.path, status: c.res.status };
    if (c.req.method === 'GET') logger?.debug({ requestId: id, ...line }, 'request');
    else logger?.info({ requestId: id, ...line }, 'request');
  };
}
