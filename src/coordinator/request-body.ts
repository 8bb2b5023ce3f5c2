import type { IncomingMessage } from 'node:http';
import { buffer } from 'node:stream/consumers';
import type { Context } from 'hono';

/**
 * The length a request declares for its body: its Content-Length, unless it also says
 * Transfer-Encoding (then the length is not known before reading) or has none.
 */
export function declaredLength(c: Context): number | undefined {
  if (c.req.header('transfer-encoding') !== undefined) return undefined;
  const length = c.req.header('content-length');
  if (length === undefined || !/^\d{1,15}$/.test(length)) return undefined;
  return Number(length);
}

/**
 * The node:http request under a request served by @hono/node-server (serve.ts), when its body
 * has not been touched yet and declares its length. Reading it directly spares building a
 * fetch Request and a web stream around it for every heartbeat (docs/scale.md, "What a
 * request costs"); Node's parser stops at the declared length, and body-limits.ts has
 * refused a length above the route's bound before any handler runs.
 */
function unreadIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming === undefined || typeof incoming.on !== 'function') return undefined;
  if (incoming.readableDidRead || incoming.readableEnded) return undefined;
  return declaredLength(c) === undefined ? undefined : incoming;
}

/**
 * A request's body as text (UTF-8, a leading byte order mark dropped, as fetch's `text()`
 * does). A client that goes away mid-body fails it with Node's `aborted` error (client-gone.ts).
 */
export async function requestText(c: Context): Promise<string> {
  const incoming = unreadIncoming(c);
  if (incoming === undefined) return c.req.text();
  const text = (await buffer(incoming)).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
