import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { PayloadTooLargeError } from '../core/errors.ts';
import { bodyLimitOf, MAX_REQUEST_BODY_BYTES, routes, type RouteDef } from '../contract/api.ts';
import { declaredLength } from './request-body.ts';

/**
 * How much of a request's body each route may read: 1 MiB of JSON, or more where a route
 * declares it (a job's module); an upload's route streams its body to disk under its own bound.
 *
 * A body that declares its length (Content-Length, no Transfer-Encoding: every agent request,
 * every CLI call) is judged by it alone: Node's parser never reads past it, so the body is
 * not touched here (request-body.ts reads it once, for the route). One without (chunked) is
 * counted as it is read, and buffered, by hono's bodyLimit. GET and HEAD bodies are never read.
 */
export function bodyLimits(): MiddlewareHandler {
  const own = (Object.values(routes) as RouteDef[])
    .filter((def) => bodyLimitOf(def) !== MAX_REQUEST_BODY_BYTES)
    .map((def) => ({
      method: def.method.toUpperCase(),
      path: new RegExp(`^/v1${def.path.replace(/:[a-z]+/g, '[^/]+')}$`),
      upload: def.stream?.kind === 'upload',
      limit: bodyLimitOf(def),
      counted: limitBody(bodyLimitOf(def)),
    }));
  const json = limitBody(MAX_REQUEST_BODY_BYTES);
  // Not async: most requests pass straight to `next`, and an async wrapper adds a promise
  // (and the request id's async hooks on it) to every one.
  return (c, next) => {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const route = own.find((r) => r.method === method && r.path.test(c.req.path));
    if (route?.upload) return next();
    const limit = route?.limit ?? MAX_REQUEST_BODY_BYTES;
    const declared = declaredLength(c);
    if (declared === undefined) return (route?.counted ?? json)(c, next);
    if (declared > limit) throw new PayloadTooLargeError(limit);
    return next();
  };
}

function limitBody(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new PayloadTooLargeError(maxSize);
    },
  });
}
