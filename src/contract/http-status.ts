import type { ErrorCode } from '../core/errors.ts';

type HttpStatus = 400 | 401 | 403 | 404 | 409 | 413 | 422 | 500 | 503;

/** The one mapping from error codes to HTTP statuses (coordinator API and agent local API). */
export const httpStatusOf: Record<ErrorCode, HttpStatus> = {
  invalid_argument: 400,
  payload_too_large: 413,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  illegal_transition: 409,
  quota_exceeded: 422,
  unavailable: 503,
  store_unavailable: 503,
  host_failure: 500,
  internal: 500,
};

/**
 * The error code to assume for an HTTP status when the answer carries no error body (a proxy's
 * page, a refused upgrade): the inverse of `httpStatusOf` where it is one-to-one.
 */
const codeByStatus: Readonly<Record<number, ErrorCode>> = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  422: 'quota_exceeded',
};

export function errorCodeOfStatus(status: number): ErrorCode {
  return codeByStatus[status] ?? (status >= 500 ? 'unavailable' : 'internal');
}
