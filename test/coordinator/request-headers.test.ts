import { connect, type AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestHeader } from '../../src/coordinator/request-headers.ts';

/**
 * requestHeader reads Node's raw header list under a real @hono/node-server listener; it must
 * answer exactly what fetch's Headers (hono's `c.req.header`) answers for the same request:
 * names without case, repeated fields joined, absent ones undefined.
 */
const NAMES = ['authorization', 'x-request-id', 'content-length', 'transfer-encoding', 'x-absent'];
let server: ReturnType<typeof serve>;
let port = 0;
let seenRaw = false;

beforeAll(async () => {
  const app = new Hono();
  app.all('/h', (c) => {
    seenRaw ||= Array.isArray(
      (c.env as { incoming?: { rawHeaders?: unknown } }).incoming?.rawHeaders,
    );
    // Ours first: fetch's Headers, once built, must not be what requestHeader answered from.
    const ours = NAMES.map((name) => requestHeader(c, name) ?? null);
    const fetched = NAMES.map((name) => c.req.header(name) ?? null);
    return c.json({ ours, fetched });
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Sends `head` (header lines, CRLF-joined) as one raw request; the parsed JSON answer. */
function raw(head: string[], body = ''): Promise<{ ours: unknown[]; fetched: unknown[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as never));
    const lines = ['POST /h HTTP/1.1', 'Host: x', 'Connection: close', ...head];
    socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  });
}

describe('requestHeader', () => {
  it('answers what fetch answers: case, repeated fields, spaces, absent ones', async () => {
    const cases = [
      ['Authorization: Bearer abc', 'Content-Length: 2'],
      ['AUTHORIZATION:   Bearer abc  ', 'authorization: Bearer def', 'content-length: 0'],
      ['X-Request-Id: a', 'x-request-id: b', 'X-REQUEST-ID: c', 'Content-Length: 0'],
      ['Transfer-Encoding: chunked'],
      ['x-request-id:', 'Content-Length: 0'],
      ['X-Request-Idx: no', 'X-Request-I: no', 'Content-Length: 0'],
    ];
    for (const head of cases) {
      const body = head.some((h) => /chunked/.test(h))
        ? '0\r\n\r\n'
        : head[1]?.endsWith('2')
          ? '{}'
          : '';
      const { ours, fetched } = await raw(head, body);
      expect(ours, head.join(' | ')).toEqual(fetched);
    }
    expect(seenRaw).toBe(true);
  });

  it('joins a repeated field as fetch does', async () => {
    const { ours } = await raw([
      'authorization: Bearer a',
      'Authorization: Bearer b',
      'Content-Length: 0',
    ]);
    expect(ours[0]).toBe('Bearer a, Bearer b');
  });

  it('reads fetch headers when no Node request is under it (app.request)', async () => {
    const app = new Hono();
    app.get('/h', (c) => c.text(requestHeader(c, 'x-tag') ?? '-'));
    expect(await (await app.request('/h', { headers: { 'X-Tag': 'fetched' } })).text()).toBe(
      'fetched',
    );
    expect(await (await app.request('/h')).text()).toBe('-');
  });
});
