import { errorFromWire, isMvmError, type MvmError } from '../../core/errors.ts';
import type { SessionError } from '../../contract/exec.ts';

/** An error as a session's last message: mvm errors as they are, anything else hidden. */
export function sessionError(error: unknown): SessionError['error'] {
  if (!isMvmError(error)) {
    return { code: 'internal', message: 'internal error; see the coordinator and agent logs' };
  }
  return {
    code: error.code,
    message: error.message,
    ...(error.details ? { details: { ...error.details } } : {}),
  };
}

/** A session's error message back as the typed error it was. */
export function errorOfSession(error: SessionError['error']): MvmError {
  return errorFromWire(error.code, error.message, error.details);
}
