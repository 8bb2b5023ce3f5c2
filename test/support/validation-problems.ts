import { expect } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';

/** The problems of the ValidationError `fn` throws; anything else thrown, or nothing, fails. */
export function validationProblems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).problems;
  }
  throw new Error('expected a ValidationError');
}
