import { ConflictError } from '../../core/errors.ts';

/**
 * A lower step of an instance with service ports that the node could not trap: refused, not
 * failed. The instance keeps running and says why (core/wake-arming.ts lowerGate).
 */
export class WakeNotArmedError extends ConflictError {
  constructor(key: string, reason: string) {
    super(`instance '${key}' keeps running: its connections could not wake it (${reason})`, {
      key,
    });
  }
}
