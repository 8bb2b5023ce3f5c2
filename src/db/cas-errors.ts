import { ConflictError } from '../core/errors.ts';

/** A compare-and-set on `version` found another version stored. */
export function versionConflict(subject: string, expected: number, found: number): ConflictError {
  return new ConflictError(
    `${subject} changed concurrently: expected version ${expected}, found ${found}; reload it and retry`,
    { expectedVersion: expected, foundVersion: found },
  );
}

/** A compare-and-set on `status` found another status stored. */
export function statusConflict(subject: string, expected: string, found: string): ConflictError {
  return new ConflictError(`${subject} is '${found}', not '${expected}'; reload it and retry`, {
    expectedStatus: expected,
    foundStatus: found,
  });
}
