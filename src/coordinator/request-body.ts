import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { requestHeader } from './request-headers.ts';

/**
 * The length a request declares for its body: its Content-Length, unless it also says
 * Transfer-Encoding (then the length is not known before reading) or has none.
 */
export function declaredLength(c: Context): number | undefined {
  if (requestHeader(c, 'transfer-encoding') !== undefined) return undefined;
  const length = requestHeader(c, 'content-length');
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
 * Every byte of `incoming`, gathered by hand: node:stream/consumers goes through a Blob, which
 * costs more than the rest of the read. A client gone before the end fails it as Node reports
 * it (`aborted`, ECONNRESET) or as a premature close, both client-gone.ts's.
 */
function readAll(incoming: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    incoming.once('error', reject);
    incoming.once('close', () => {
      if (!incoming.readableEnded) {
        reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      }
    });
  });
}

/**
 * A request's body as text (UTF-8, a leading byte order mark dropped, as fetch's `text()`
 * does). A client that goes away mid-body fails it with Node's `aborted` error (client-gone.ts).
 */
export async function requestText(c: Context): Promise<string> {
  const incoming = unreadIncoming(c);
  if (incoming === undefined) return c.req.text();
  const text = (await readAll(incoming)).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
