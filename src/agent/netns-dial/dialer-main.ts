/**
 * The dialer inside an agent's network namespace (`ip netns exec <ns> node dialer-main.js
 * <unix socket>`), started by netns-dialer.ts. The agent's own process stays in the host's
 * namespace, where the guests' addresses are not reachable; a unix socket is reachable from
 * both. Each connection starts with one line, `<ipv4> <port>\n`; the dialer connects to that
 * address from inside the namespace and answers `ok\n` and then carries the bytes both ways,
 * or `error <why>\n` and closes.
 */
import { rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const REQUEST = /^(\d{1,3}(?:\.\d{1,3}){3}) (\d{1,5})$/;
const MAX_LINE = 64;

export function serveDialer(path: string): Promise<() => void> {
  const server = createServer((client) => {
    let line = '';
    const onData = (chunk: Buffer): void => {
      line += chunk.toString('latin1');
      const end = line.indexOf('\n');
      if (end === -1) {
        if (line.length > MAX_LINE) client.destroy();
        return;
      }
      client.off('data', onData);
      client.pause();
      const rest = Buffer.from(line.slice(end + 1), 'latin1');
      dial(client, line.slice(0, end), rest);
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  });
  rmSync(path, { force: true });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(path, () => done(() => server.close()));
  });
}

function dial(client: Socket, request: string, rest: Buffer): void {
  const match = REQUEST.exec(request);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) {
    client.end('error bad request\n');
    return;
  }
  const upstream = connect({ host: match[1], port });
  let connected = false;
  upstream.once('connect', () => {
    connected = true;
    client.write('ok\n');
    if (rest.length > 0) upstream.write(rest);
    client.pipe(upstream).pipe(client);
    client.resume();
  });
  upstream.once('error', (error: NodeJS.ErrnoException) => {
    if (!connected) client.end(`error ${error.code ?? error.message}\n`);
    else client.destroy();
  });
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
}

const invoked = process.argv[1] ? pathToFileURL(resolve(process.argv[1])).href : '';
if (import.meta.url === invoked) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: dialer-main <unix socket>\n');
    process.exitCode = 2;
  } else {
    serveDialer(path).catch((error: unknown) => {
      process.stderr.write(`netns dialer failed: ${String(error)}\n`);
      process.exitCode = 1;
    });
  }
}
