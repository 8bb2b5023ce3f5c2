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
