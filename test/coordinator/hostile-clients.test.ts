import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { until } from '../support/until.ts';

/**
 * Clients that misbehave on the wire, against a real listener: bodies over the limit (with a
 * content-length or chunked) and clients that go away mid-request. The answers must be clean
 * 4xx, the coordinator must not log them as errors, and it must keep serving.
 */
const ADMIN = 'hostile-client-admin-token-0123456789';

interface LogEntry {
  level: number;
  msg?: string;
  err?: { stack?: string };
  [key: string]: unknown;
}

let running: RunningCoordinator | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await running?.close();
  running = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function start(databaseUrl: string): Promise<{ url: URL; log: LogEntry[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-hostile-clients-'));
  dirs.push(dataDir);
  const log: LogEntry[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => log.push(JSON.parse(line) as LogEntry) },
  );
  running = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl,
      clusterCidr: '10.240.0.0/12',
      adminToken: ADMIN,
      dataDir,
    },
    { logger },
  );
  return { url: new URL(running.url), log };
}

function open(url: URL): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => resolve(socket));
    socket.once('error', reject);
  });
}

function head(method: string, path: string, headers: Record<string, string>): string {
  const lines = [`${method} /v1${path} HTTP/1.1`, 'host: coordinator'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

const auth = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };

/** Sends a request and then `body` chunks until the server answers; resolves with its answer. */
async function sendUntilAnswered(
  url: URL,
  request: string,
  chunks: () => Buffer | undefined,
): Promise<{ status: number; text: string; sent: number }> {
  const socket = await open(url);
  let received = '';
  let sent = 0;
  socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
  socket.on('error', () => undefined); // the server may close while we still write
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(request);
  while (!received.includes('\r\n\r\n') && !socket.destroyed) {
    const chunk = chunks();
    if (chunk === undefined) break;
    sent += chunk.length;
    if (!socket.write(chunk)) {
      await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
    }
  }
  await until('an answer', async () => (received.includes('}') ? true : undefined), 10_000);
  socket.destroy();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1]);
  return { status, text: received.slice(received.indexOf('\r\n\r\n') + 4), sent };
}

function errorsIn(log: LogEntry[]): LogEntry[] {
  return log.filter((entry) => entry.level >= 50 || entry.err?.stack !== undefined);
}

await describeEachDatabase('hostile clients over the wire', ({ url: databaseUrl }) => {
  it('answers 413 to a 20 MB body, declared or chunked, and logs no error', async () => {
    const { url, log } = await start(databaseUrl());
    const size = 20 * 1024 * 1024;
    const piece = Buffer.alloc(256 * 1024, 'x');
    let left = size;
    const declared = await sendUntilAnswered(
      url,
      head('POST', '/tenants', { ...auth, 'content-length': String(size) }),
      () => (left <= 0 ? undefined : ((left -= piece.length), piece)),
    );
    const frame = Buffer.concat([
      Buffer.from(`${piece.length.toString(16)}\r\n`),
      piece,
      Buffer.from('\r\n'),
    ]);
    let frames = 0;
    const chunked = await sendUntilAnswered(
      url,
      head('POST', '/tenants', { ...auth, 'transfer-encoding': 'chunked' }),
      () => (frames++ < 80 ? frame : undefined),
    );
    for (const answer of [declared, chunked]) {
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'payload_too_large' } });
    }
    // The chunked body was refused once past the limit, not read to its end.
    expect(chunked.sent).toBeLessThan(8 * 1024 * 1024);
    expect(errorsIn(log)).toEqual([]);
    const health = await fetch(new URL('/v1/health', url));
    expect(health.status).toBe(200);
  });

  it('takes a client that goes away mid-request as no error, and keeps serving', async () => {
    const { url, log } = await start(databaseUrl());
    const body = JSON.stringify({ id: 'half-sent', netId: 7 });
    const variants: Array<[string, string]> = [
      [
        'declared length, half the body',
        head('POST', '/tenants', { ...auth, 'content-length': '4096' }) + body.slice(0, 10),
      ],
      ['headers only', head('POST', '/tenants', { ...auth, 'content-length': '4096' })],
      [
        'chunked, one chunk',
        head('PUT', '/nodes/n1', { ...auth, 'transfer-encoding': 'chunked' }) + '5\r\n{"hos\r\n',
      ],
    ];
    // Fifteen slow clients at once: each sends its headers and part of its body, waits for
    // the server to authenticate it and start reading, then vanishes.
    const sockets: Socket[] = [];
    for (let round = 0; round < 5; round += 1) {
      for (const [, request] of variants) {
        const socket = await open(url);
        socket.write(request);
        sockets.push(socket);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const socket of sockets) socket.destroy();
    // Every aborted request leaves exactly one entry, however it is logged.
    const noticed = () => log.filter((e) => e.msg === 'client went away' || e.level >= 50);
    await until(
      'the coordinator to notice every client that went away',
      () => (noticed().length >= 15 ? true : undefined),
      10_000,
    );
    expect(errorsIn(log).map((e) => `${e.level} ${e.msg ?? ''}: ${e.err?.stack ?? ''}`)).toEqual(
      [],
    );
    expect(noticed().every((e) => e.level <= 30 && e.err === undefined)).toBe(true);
    const tenants = await fetch(new URL('/v1/tenants', url), {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect([tenants.status, await tenants.json()]).toEqual([200, []]);
  });
});
