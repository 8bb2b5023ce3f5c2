import { ValidationError } from '../../core/errors.ts';
import { ID_PATTERN } from '../../core/ids.ts';

/** Flat file names only: no separators, so nothing can escape the staging directory. */
const FILE_NAME = /^[A-Za-z0-9._-]+$/;
/** ext4 stores at most 255 bytes per name; the pattern is ASCII, so characters = bytes. */
const MAX_NAME_LENGTH = 255;
/** Long enough to recognise a name in a message, short enough not to paste a whole value. */
const SHOWN_NAME_CHARS = 40;

export type DriveFileKind = 'secret' | 'config file';

/**
 * Checks every name before anything touches the disk, so a bad request writes nothing.
 * Messages quote names (truncated) and never values: secrets must not reach logs.
 */
export function assertFileNames(kind: DriveFileKind, files: Record<string, unknown>): void {
  const problems = Object.entries(files).flatMap(([name, value]) =>
    fileProblems(kind, name, value),
  );
  if (problems.length === 0) return;
  throw new ValidationError(`invalid ${kind} names: ${problems.join('; ')}`, problems);
}

function fileProblems(kind: DriveFileKind, name: string, value: unknown): string[] {
  const problems: string[] = [];
  const shown = JSON.stringify(name.slice(0, SHOWN_NAME_CHARS));
  if (!FILE_NAME.test(name) || name === '.' || name === '..') {
    problems.push(`${kind} name ${shown} must use only A-Z a-z 0-9 . _ - and not be '.' or '..'`);
  } else if (name.length > MAX_NAME_LENGTH) {
    problems.push(`${kind} name ${shown}... is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (typeof value !== 'string') problems.push(`${kind} ${shown} must have a string value`);
  return problems;
}

/** Config versions become part of a file name, so they follow the id rules. */
export function assertConfigVersion(version: string): void {
  if (ID_PATTERN.test(version)) return;
  const problem = `config version ${JSON.stringify(version.slice(0, SHOWN_NAME_CHARS))} is invalid: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'`;
  throw new ValidationError(problem, [problem]);
}

const MAX_DATA_MIB = 1024 * 1024;

export function assertDataSize(sizeMib: number): void {
  if (Number.isInteger(sizeMib) && sizeMib >= 1 && sizeMib <= MAX_DATA_MIB) return;
  const problem = `data drive size ${sizeMib} MiB is invalid: use a whole number from 1 to ${MAX_DATA_MIB}`;
  throw new ValidationError(problem, [problem]);
}
