import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** What a TLS client needs; read anew for every request so a rotated identity takes effect. */
export interface TlsMaterial {
  /** The CA that must have issued the server's certificate. */
  caPem: string;
  /** The client certificate and key for mutual TLS, when the host has joined. */
  certificatePem?: string;
  keyPem?: string;
}

export type HttpsFetch = (request: Request) => Promise<Response>;

/** The answer as a Response whose body streams from the socket (an artifact is not held whole). */
function responseFrom(incoming: IncomingMessage): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const status = incoming.statusCode ?? 500;
  if (status === 204 || status === 304) {
    incoming.resume();
    return new Response(null, { status, headers });
  }
  return new Response(Readable.toWeb(incoming) as ReadableStream<Uint8Array>, { status, headers });
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
    // JSON goes whole (with its length); bytes (an upload) stream out as they are read.
    const streamed = request.headers.get('content-type') === 'application/octet-stream';
    const body =
      request.body === null || streamed ? undefined : Buffer.from(await request.arrayBuffer());
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
      req.once('response', (incoming) => resolve(responseFrom(incoming)));
      if (streamed && request.body !== null) {
        pipeline(Readable.fromWeb(request.body), req).catch(reject);
      } else req.end(body);
    });
  };
}
