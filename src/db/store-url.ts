import { ValidationError } from '../core/errors.ts';

/** Where a store lives, parsed from its URL. */
export type StoreTarget =
  | {
      dialect: 'postgres';
      connectionString: string;
      /** The connection pool's size (`?pool_max=N`, 1-200); pg's default (10) without it. */
      poolMax?: number;
    }
  | { dialect: 'sqlite'; path: string };

const POOL_MAX_PARAM = /([?&])pool_max=([^&]*)(&?)/;

export const SQLITE_MEMORY = ':memory:';

/**
 * `postgres://…` or `postgresql://…` is a Postgres server; anything else is an SQLite file:
 * a plain path, `sqlite:PATH`, `file:PATH` (also with `//`), or `:memory:`.
 */
export function parseStoreUrl(url: string): StoreTarget {
  const trimmed = url.trim();
  if (/^postgres(ql)?:\/\//i.test(trimmed)) return postgresTarget(url, trimmed);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1];
  if (scheme !== undefined && !/^(sqlite|file)$/i.test(scheme)) {
    // Not a file path: taken as one, `mysql://…` would create a directory named `mysql:`.
    throw new ValidationError(
      `store URL '${redactStoreUrl(url)}' has the scheme '${scheme}'; use postgres://user:pass@host/db, an SQLite file path (sqlite:PATH, file:PATH) or :memory:`,
    );
  }
  const path = trimmed.replace(/^(sqlite|file):(\/\/(?=\/|:))?/i, '');
  if (path === '') {
    throw new ValidationError(
      `store URL '${url}' names no database; use postgres://user:pass@host/db, an SQLite file path, or :memory:`,
    );
  }
  return { dialect: 'sqlite', path };
}

/** A Postgres URL, with the pool's own parameter taken out of what pg sees. */
function postgresTarget(url: string, trimmed: string): StoreTarget {
  const found = POOL_MAX_PARAM.exec(trimmed);
  if (!found) return { dialect: 'postgres', connectionString: trimmed };
  const [whole, lead = '', value = '', tail = ''] = found;
  const poolMax = /^\d{1,3}$/.test(value) ? Number(value) : NaN;
  if (!(poolMax >= 1 && poolMax <= 200)) {
    throw new ValidationError(
      `store URL '${redactStoreUrl(url)}': pool_max must be a whole number from 1 to 200, not '${value}'`,
    );
  }
  // `?pool_max=20&x=1` keeps `?x=1`; `?a=1&pool_max=20` keeps `?a=1`.
  const rest = trimmed.replace(
    whole,
    lead === '?' && tail === '&' ? '?' : tail === '&' ? lead : '',
  );
  return { dialect: 'postgres', connectionString: rest, poolMax };
}

/**
 * The URL with any password masked, safe for logs and error messages: the one after the user
 * and a `password=` parameter (`postgresql:///db?host=/var/run/postgresql&password=…`).
 */
export function redactStoreUrl(url: string): string {
  return url
    .replace(/\/\/([^:/@?#]+):[^/?#]*@/, '//$1:***@')
    .replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/**
 * A Postgres URL naming another database on the same server, the rest kept: the path after
 * the host (or after an empty one, `postgres://u:p@/db?host=/var/run/postgresql`, which the
 * WHATWG URL parser refuses) replaced. For tools and tests that create databases.
 */
export function withDatabase(url: string, database: string): string {
  const found = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?(.*)$/is.exec(url.trim());
  if (!found) throw new ValidationError(`'${redactStoreUrl(url)}' is not a Postgres URL`);
  return `${found[1]}/${encodeURIComponent(database)}${found[3]}`;
}

/**
 * The same database, role and password as the TCP URL `url`, reached over the server's Unix
 * socket in `dir` (`postgres://user:pass@/db?host=DIR&port=PORT`; pg dials DIR/.s.PGSQL.PORT).
 */
export function overSocket(url: string, dir: string): string {
  const tcp = new URL(url);
  const port = tcp.port || '5432';
  const auth = tcp.username ? `${tcp.username}${tcp.password ? `:${tcp.password}` : ''}@` : '';
  const query = new URLSearchParams(tcp.search);
  query.set('host', dir);
  query.set('port', port);
  return `${tcp.protocol}//${auth}${tcp.pathname}?${query.toString().replace(/%2F/gi, '/')}`;
}
