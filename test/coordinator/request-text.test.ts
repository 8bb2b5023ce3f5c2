import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestText } from '../../src/coordinator/request-body.ts';

/**
 * Which way requestText reads a body, on a real @hono/node-server listener: a declared
 * length straight from node:http, anything else (chunked; no Node request at all) through
 * fetch's `text()`, here made to answer `fetch path` so the two ways can be told apart.
 */
let server: ReturnType<typeof serve>;
let port = 0;

beforeAll(async () => {
  const app = new Hono();
  app.post('/echo', async (c) => {
    c.req.text = () => Promise.resolve('fetch path');
    return c.text(`${await requestText(c)}|${c.req.header('x-tag') ?? ''}`);
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function post(body: Buffer, headers: Record<string, string | number>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/echo', headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('requestText', () => {
  it('reads a declared length straight from node:http, exactly, byte order mark dropped', async () => {
    const body = Buffer.from('\uFEFF{"name":"ü€😀"}', 'utf8');
    const text = await post(body, { 'content-length': body.length, 'x-tag': 'd' });
    expect(text).toBe('{"name":"ü€😀"}|d');
    expect(await post(Buffer.alloc(0), { 'content-length': 0 })).toBe('|');
  });

  it('leaves a chunked body to fetch', async () => {
    const body = Buffer.from('{"a":1}');
    expect(await post(body, { 'transfer-encoding': 'chunked' })).toBe('fetch path|');
  });

  it('leaves a request with no Node request under it to fetch', async () => {
    const app = new Hono();
    app.post('/echo', async (c) => {
      c.req.text = () => Promise.resolve('fetch path');
      return c.text(await requestText(c));
    });
    const answer = await app.request('/echo', {
      method: 'POST',
      headers: { 'content-length': '7' },
      body: '{"a":1}',
    });
    expect(await answer.text()).toBe('fetch path');
  });
});
