import { ConflictError } from '../../core/errors.ts';

/**
 * An instance moved between the pass that planned its steps and their turn to run (a VMM
 * found dead, a local action): nothing was done to it, nothing failed, and the next pass plans
 * again from what it is now.
 */
export class StalePlanError extends ConflictError {
  constructor(key: string, at: string, planned: string, step: string) {
    super(`instance '${key}' is ${at}, not ${planned} as planned; the next pass plans again`, {
      step,
      at,
      planned,
    });
  }
}
