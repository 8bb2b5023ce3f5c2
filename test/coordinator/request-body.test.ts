import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

/**
 * Bodies that declare their length are read straight from node:http (request-body.ts), others
 * through fetch's Request as before: over a real listener, both must read the same JSON,
 * whatever the TCP segments, and answer the same errors.
 */
const ADMIN = 'request-body-admin-token-0123456789';

let running: RunningCoordinator | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await running?.close();
  running = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function start(databaseUrl: string): Promise<URL> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-reqcost-body-'));
  dirs.push(dataDir);
  running = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl,
      clusterCidr: '10.240.0.0/12',
      adminToken: ADMIN,
      dataDir,
    },
    { logger: pino({ level: 'silent' }) },
  );
  return new URL(running.url);
}

/** One raw HTTP/1.1 request whose body goes out in `pieces`, a pause between each. */
async function send(
  url: URL,
  method: string,
  path: string,
  pieces: Buffer[],
  framing: 'declared' | 'chunked',
): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(Number(url.port), url.hostname, () => resolve(s));
    s.once('error', reject);
  });
  let received = '';
  socket.on('data', (data: Buffer) => (received += data.toString('utf8')));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const length = pieces.reduce((n, p) => n + p.length, 0);
  const framingHeader =
    framing === 'declared' ? `content-length: ${length}` : 'transfer-encoding: chunked';
  socket.write(
    `${method} /v1${path} HTTP/1.1\r\nhost: c\r\nconnection: close\r\n` +
      `authorization: Bearer ${ADMIN}\r\ncontent-type: application/json\r\n${framingHeader}\r\n\r\n`,
  );
  for (const piece of pieces) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (framing === 'declared') socket.write(piece);
    else
      socket.write(
        Buffer.concat([
          Buffer.from(`${piece.length.toString(16)}\r\n`),
          piece,
          Buffer.from('\r\n'),
        ]),
      );
  }
  if (framing === 'chunked') socket.write('0\r\n\r\n');
  await ended;
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1]);
  const text = received.slice(received.indexOf('\r\n\r\n') + 4);
  return { status, body: JSON.parse(text) as { error?: { code: string; message: string } } };
}

/** `text` as UTF-8 cut into pieces of `size` bytes, splitting multi-byte characters. */
const cut = (text: string, size: number): Buffer[] => {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  return pieces;
};

await describeEachDatabase('request bodies over the wire', ({ url: databaseUrl }) => {
  it('reads the same JSON declared or chunked, split mid-character, with a byte order mark', async () => {
    const url = await start(databaseUrl());
    // An unknown field is named in the answer as sent: it shows the body was decoded exactly.
    const text = '\uFEFF{"id":"t1","netId":7,"ü€😀":1}';
    for (const framing of ['declared', 'chunked'] as const) {
      const answer = await send(url, 'POST', '/tenants', cut(text, 3), framing);
      expect(answer.status).toBe(400);
      expect(answer.body.error?.message).toContain('unknown field(s) "ü€😀"');
    }
    const created = await send(url, 'POST', '/tenants', cut('{"id":"t2"}', 4), 'declared');
    expect([created.status, created.body]).toMatchObject([201, { id: 't2' }]);
  });

  it('answers malformed and empty bodies as before, declared or chunked', async () => {
    const url = await start(databaseUrl());
    for (const framing of ['declared', 'chunked'] as const) {
      const malformed = await send(url, 'POST', '/tenants', cut('{"id":', 2), framing);
      expect(malformed.status).toBe(400);
      expect(malformed.body.error?.message).toMatch(/^malformed JSON body/);
      // An empty body is `{}`: the schema names what is missing.
      const empty = await send(url, 'POST', '/tenants', [], framing);
      expect(empty.status).toBe(400);
      expect(empty.body.error?.message).toMatch(/^invalid body: id:/);
    }
    const tenants = await fetch(new URL('/v1/tenants', url), {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(await tenants.json()).toEqual([]);
  });
});
