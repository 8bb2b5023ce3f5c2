import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';

/** What a TLS client needs; read anew for every request so a rotated identity takes effect. */
export interface TlsMaterial {
  /** The CA that must have issued the server's certificate. */
  caPem: string;
  /** The client certificate and key for mutual TLS, when the host has joined. */
  certificatePem?: string;
  keyPem?: string;
}

export type HttpsFetch = (request: Request) => Promise<Response>;

function responseFrom(incoming: IncomingMessage, body: Buffer): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const status = incoming.statusCode ?? 500;
  const empty = status === 204 || status === 304 || body.length === 0;
  return new Response(empty ? null : new Uint8Array(body), { status, headers });
}

/**
 * A `fetch` for https URLs on node:https (undici's dispatcher options are not available):
 * it verifies the server against `caPem` and presents the node's certificate. Each request
 * opens its own connection, so a renewed certificate is used from the next request on while
 * a long-poll in flight finishes on the old one.
 */
export function createHttpsFetch(material: () => TlsMaterial): HttpsFetch {
  return async (request) => {
    const tls = material();
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
    return new Promise<Response>((resolve, reject) => {
      const req = httpsRequest(request.url, {
        method: request.method,
        headers: Object.fromEntries(request.headers.entries()),
        ca: tls.caPem,
        ...(tls.certificatePem !== undefined ? { cert: tls.certificatePem } : {}),
        ...(tls.keyPem !== undefined ? { key: tls.keyPem } : {}),
        agent: false,
        signal: request.signal,
      });
      req.once('error', reject);
      req.once('response', (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.once('error', reject);
        incoming.once('end', () => resolve(responseFrom(incoming, Buffer.concat(chunks))));
      });
      req.end(body);
    });
  };
}
