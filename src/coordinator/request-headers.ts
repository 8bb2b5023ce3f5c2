import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/**
 * One request header, as fetch's `Headers.get` answers it (names without case, repeated
 * fields joined with ', ', undefined when absent). Under @hono/node-server (serve.ts) it is
 * read from Node's raw header list: the first `c.req.header()` there builds a whole fetch
 * `Headers` (every field copied and validated) only for the middleware to read three of
 * them (docs/scale.md, "The request path's own CPU"). Node's parser has already refused
 * malformed fields and trimmed their values, as fetch would.
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const raw = rawHeadersOf(c);
  if (raw === undefined) return c.req.header(name);
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i]!;
    if (field.length !== name.length || field.toLowerCase() !== name) continue;
    value = value === undefined ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
  }
  return value;
}

/** Node's raw header list under a request served by @hono/node-server, else undefined. */
function rawHeadersOf(c: Context): string[] | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const raw = incoming?.rawHeaders;
  return Array.isArray(raw) ? raw : undefined;
}
