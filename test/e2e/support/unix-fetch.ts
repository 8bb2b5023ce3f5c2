import { request } from 'node:http';
import type { FetchLike } from '../../../src/drivers/coordinator-api/api-client.ts';

/**
 * A fetch that sends every request over one unix socket (the coordinator namespace's
 * forwarder), whatever host the URL names: the API client stays unchanged.
 */
export function unixFetch(socketPath: string): FetchLike {
  return async (input: Request): Promise<Response> => {
    const url = new URL(input.url);
    const body = input.body === null ? undefined : Buffer.from(await input.arrayBuffer());
    const headers: Record<string, string> = {};
    input.headers.forEach((value, name) => (headers[name] = value));
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath, method: input.method, path: `${url.pathname}${url.search}`, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const status = res.statusCode ?? 500;
            const payload = status === 204 ? null : Buffer.concat(chunks);
            resolve(new Response(payload, { status }));
          });
          res.on('error', reject);
        },
      );
      input.signal.addEventListener('abort', () => req.destroy(new Error('aborted')));
      req.on('error', reject);
      req.end(body);
    });
  };
}
