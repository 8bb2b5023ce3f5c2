/**
 * A small JSON client over node:http for the fleet simulation: one keep-alive socket pool per
 * client, bounded by `maxSockets`, so a thousand simulated agents share a few dozen sockets
 * (their long-polls use a pool of their own: each waiting poll holds one).
 */
import http from 'node:http';

export interface JsonClient {
  call(method: string, path: string, body?: unknown): Promise<unknown>;
  close(): void;
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Errors where the request never reached a handler (a keep-alive socket the server closed). */
const RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED']);

export function jsonClient(baseUrl: string, token: string, maxSockets: number): JsonClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const url = new URL(baseUrl);
  const once = (method: string, path: string, body: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const request = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method,
          path: `/v1${path}`,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload === undefined
              ? {}
              : {
                  'content-type': 'application/json',
                  'content-length': Buffer.byteLength(payload),
                }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            if (status >= 400) {
              reject(new HttpStatusError(status, `${method} ${path}: ${status} ${text}`));
              return;
            }
            try {
              resolve(text.length === 0 ? null : JSON.parse(text));
            } catch (error) {
              reject(error as Error);
            }
          });
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  return {
    // Every call the simulation makes is idempotent (absolute counts, PUT, heartbeats).
    async call(method, path, body) {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await once(method, path, body);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (attempt === 3 || code === undefined || !RETRYABLE.has(code)) throw error;
        }
      }
    },
    close: () => agent.destroy(),
  };
}
