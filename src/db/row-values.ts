import { InternalError } from '../core/errors.ts';

/** Reads a stored enum value back, refusing anything the domain does not know. */
export function oneOf<T extends string>(allowed: readonly T[], value: string, column: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new InternalError(
    `stored ${column} '${value}' is not one of ${allowed.join(', ')}; the database holds data this version of mvm does not understand`,
    { column, value },
  );
}

/** Reads a JSON object column back. */
export function jsonObject(text: string, column: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return value as Record<string, unknown>;
  }
  throw new InternalError(`stored ${column} is not a JSON object`, { column });
}

/** Reads a JSON object of string values back, dropping anything that is not a string. */
export function stringMap(text: string, column: string): Record<string, string> {
  const entries = Object.entries(jsonObject(text, column));
  return Object.fromEntries(entries.filter((e): e is [string, string] => typeof e[1] === 'string'));
}
