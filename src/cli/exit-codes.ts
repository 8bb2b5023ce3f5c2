import type { ErrorCode } from '../core/errors.ts';

/** The one mapping from error codes to process exit statuses; scripts may rely on it. */
export const exitCodeOf: Readonly<Record<ErrorCode, number>> = Object.freeze({
  internal: 1,
  invalid_argument: 2,
  // Too much input is invalid input: the same request will never pass.
  payload_too_large: 2,
  unauthenticated: 3,
  permission_denied: 3,
  not_found: 4,
  already_exists: 5,
  conflict: 5,
  illegal_transition: 5,
  quota_exceeded: 6,
  unavailable: 7,
  // The coordinator answered but cannot serve: for a script, the same as not reaching it.
  store_unavailable: 7,
  host_failure: 8,
});

export const EXIT_OK = 0;
/** Command-line usage errors (unknown flag, missing argument) count as invalid arguments. */
export const EXIT_USAGE = exitCodeOf.invalid_argument;
