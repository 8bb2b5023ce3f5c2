import { ValidationError } from '../core/errors.ts';

/** Where a store lives, parsed from its URL. */
export type StoreTarget =
  { dialect: 'postgres'; connectionString: string } | { dialect: 'sqlite'; path: string };

export const SQLITE_MEMORY = ':memory:';

/**
 * `postgres://…` or `postgresql://…` is a Postgres server; anything else is an SQLite file:
 * a plain path, `sqlite:PATH`, `file:PATH` (also with `//`), or `:memory:`.
 */
export function parseStoreUrl(url: string): StoreTarget {
  const trimmed = url.trim();
  if (/^postgres(ql)?:\/\//i.test(trimmed))
    return { dialect: 'postgres', connectionString: trimmed };
  const path = trimmed.replace(/^(sqlite|file):(\/\/(?=\/|:))?/i, '');
  if (path === '') {
    throw new ValidationError(
      `store URL '${url}' names no database; use postgres://user:pass@host/db, an SQLite file path, or :memory:`,
    );
  }
  return { dialect: 'sqlite', path };
}

/** The URL with any password masked, safe for logs and error messages. */
export function redactStoreUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}
