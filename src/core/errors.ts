/**
 * The one error hierarchy. Every error that crosses a boundary is an MvmError with a stable
 * `code`; the coordinator maps codes to HTTP statuses once, the CLI maps them to exit codes once.
 */
export const errorCodes = [
  'invalid_argument',
  'payload_too_large',
  'not_found',
  'already_exists',
  'conflict',
  'illegal_transition',
  'quota_exceeded',
  'unauthenticated',
  'permission_denied',
  'unavailable',
  'store_unavailable',
  'host_failure',
  'internal',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export class MvmError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  /** `options.cause`: the error this one wraps (logged with it; never sent over the wire). */
  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

export class ValidationError extends MvmError {
  /** Every problem found, so the caller can fix them all at once. */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [], options?: ErrorOptions) {
    super('invalid_argument', message, problems.length > 0 ? { problems } : undefined, options);
    this.problems = problems;
  }
}

/** A request body over the size the server reads; nothing of it was looked at. */
export class PayloadTooLargeError extends MvmError {
  constructor(maxBytes: number) {
    const limit =
      maxBytes % (1024 * 1024) === 0 ? `${maxBytes / (1024 * 1024)} MiB` : `${maxBytes} bytes`;
    super(
      'payload_too_large',
      `the request body is over the ${limit} limit; send less (split the change into several requests)`,
      { maxBytes },
    );
  }
}

export class NotFoundError extends MvmError {
  constructor(kind: string, id: string, hint?: string) {
    super('not_found', `${kind} '${id}' not found${hint ? `; ${hint}` : ''}`, { kind, id });
  }
}

export class AlreadyExistsError extends MvmError {
  constructor(kind: string, id: string, hint?: string) {
    super('already_exists', `${kind} '${id}' already exists${hint ? `; ${hint}` : ''}`, {
      kind,
      id,
    });
  }
}

/** A compare-and-set lost a race, or the request contradicts the current state. */
export class ConflictError extends MvmError {
  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('conflict', message, details, options);
  }
}

export class IllegalTransitionError extends MvmError {
  readonly from: string;
  readonly to: string;
  constructor(subject: string, from: string, to: string, hint?: string) {
    super(
      'illegal_transition',
      `${subject}: cannot go from '${from}' to '${to}'${hint ? `; ${hint}` : ''}`,
      { from, to },
    );
    this.from = from;
    this.to = to;
  }
}

export class QuotaExceededError extends MvmError {
  constructor(tenantId: string, violations: readonly string[]) {
    super(
      'quota_exceeded',
      `tenant '${tenantId}' quota exceeded: ${violations.join('; ')}; raise the quota with 'mvm tenant update' or ask for less`,
      { tenantId, violations },
    );
  }
}

export class UnauthenticatedError extends MvmError {
  constructor(message = 'missing or invalid API token; pass --token or set MVM_TOKEN') {
    super('unauthenticated', message);
  }
}

export class PermissionDeniedError extends MvmError {
  constructor(message: string) {
    super('permission_denied', message);
  }
}

export class UnavailableError extends MvmError {
  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('unavailable', message, details, options);
  }
}

/**
 * The coordinator cannot reach its database (restarting, connection lost). Nothing is wrong
 * with the request: it is expected to succeed once the database is back, so the error says
 * when to retry (HTTP Retry-After). `reason` is the driver's own account, for the logs only:
 * callers learn nothing about where the database lives.
 */
export class StoreUnavailableError extends MvmError {
  readonly retryAfterSeconds: number;
  readonly reason: string;
  constructor(reason: string, retryAfterSeconds = 2, options?: ErrorOptions) {
    super(
      'store_unavailable',
      `the coordinator's database is unavailable (restarting or unreachable); retry in ${retryAfterSeconds} s, the coordinator reconnects by itself once it is back`,
      { retryAfterSeconds },
      options,
    );
    this.retryAfterSeconds = retryAfterSeconds;
    this.reason = reason;
  }
}

/** A host command or device operation failed; carries what ran and what it said. */
export class HostError extends MvmError {
  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('host_failure', message, details, options);
  }
}

export class InternalError extends MvmError {
  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('internal', message, details, options);
  }
}

/** What an error says, whatever was thrown (an Error's message, else its string form). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function isMvmError(value: unknown): value is MvmError {
  return value instanceof MvmError;
}

/** Rebuilds a typed error from its wire form (`{error:{code,message}}`). */
export function errorFromWire(
  code: string,
  message: string,
  details?: Record<string, unknown>,
): MvmError {
  const known = (errorCodes as readonly string[]).includes(code) ? (code as ErrorCode) : 'internal';
  return new MvmError(known, message, details);
}
