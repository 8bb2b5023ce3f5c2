import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ValidationError } from '../core/errors.ts';
import {
  isRequestId,
  MAX_REQUEST_ID_LENGTH,
  REQUEST_ID_HEADER,
  requestIdFrom,
} from '../core/request-id.ts';
import type { Logger } from '../ports/logger.ts';

const current = new AsyncLocalStorage<string>();

/** The id of the request being served, if any (for log lines and answers). */
export function currentRequestId(): string | undefined {
  return current.getStore();
}

/**
 * Each request's id: the caller's X-Request-Id when it sent a valid one (a bad one is a 400),
 * else a fresh one. It is answered in X-Request-Id, and everything the request does runs with
 * it, so every log line written for it carries it (requestLogger).
 */
export function requestIds(logger: Logger | undefined): MiddlewareHandler {
  return async (c, next) => {
    const sent = c.req.header(REQUEST_ID_HEADER);
    const valid = sent !== undefined && isRequestId(sent);
    const id = valid ? sent : requestIdFrom(randomBytes(8));
    c.header(REQUEST_ID_HEADER, id);
    if (sent !== undefined && !valid) {
      throw new ValidationError(
        `invalid X-Request-Id header: 1 to ${MAX_REQUEST_ID_LENGTH} letters, digits and . _ : - (starting with a letter or digit), or leave it out`,
        ['header.x-request-id: not a request id'],
      );
    }
    await current.run(id, next);
    // One line per change made; reads are many (heartbeats, watches) and stay at debug.
    const line = { method: c.req.method, path: c.req.path, status: c.res.status };
    if (c.req.method === 'GET') logger?.debug({ requestId: id, ...line }, 'request');
    else logger?.info({ requestId: id, ...line }, 'request');
  };
}

/** A logger whose lines carry the id of the request they were written for, if any. */
export function requestLogger(base: Logger): Logger {
  const withId = (obj: object): object => {
    const requestId = current.getStore();
    return requestId === undefined ? obj : { requestId, ...obj };
  };
  return {
    debug: (obj, msg) => base.debug(withId(obj), msg),
    info: (obj, msg) => base.info(withId(obj), msg),
    warn: (obj, msg) => base.warn(withId(obj), msg),
    error: (obj, msg) => base.error(withId(obj), msg),
  };
}
