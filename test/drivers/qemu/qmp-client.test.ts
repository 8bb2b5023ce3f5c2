import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QmpClient, QmpCommandError } from '../../../src/drivers/qemu/qmp-client.ts';

type Handler = (command: { execute: string; id?: unknown }, reply: (msg: object) => void) => void;

/** A fake QMP server: greeting, then one JSON command per line answered by `handler`. */
function fakeQmp(path: string, handler: Handler): Promise<Server> {
  const server = createServer((socket: Socket) => {
    const send = (msg: object): void => void socket.write(`${JSON.stringify(msg)}\r\n`);
    send({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } });
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const command = JSON.parse(buffer.slice(0, nl)) as { execute: string; id?: unknown };
        buffer = buffer.slice(nl + 1);
        handler(command, send);
      }
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe('QmpClient', () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-qmp-'));
  });
  afterEach(async () => {
    server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('negotiates capabilities, skips events and correlates replies by id', async () => {
    const seen: string[] = [];
    server = await fakeQmp(join(dir, 'q.sock'), (cmd, reply) => {
      seen.push(cmd.execute);
      if (cmd.execute === 'query-status') {
        reply({ event: 'STOP', timestamp: { seconds: 0, microseconds: 0 } });
        reply({ return: { status: 'paused', running: false }, id: cmd.id });
      } else {
        reply({ return: {}, id: cmd.id });
      }
    });
    const qmp = await QmpClient.connect(join(dir, 'q.sock'));
    expect(await qmp.execute('query-status')).toEqual({ status: 'paused', running: false });
    expect(seen).toEqual(['qmp_capabilities', 'query-status']);
    qmp.close();
  });

  it('turns QMP errors into QmpCommandError with the error class', async () => {
    server = await fakeQmp(join(dir, 'q.sock'), (cmd, reply) => {
      if (cmd.execute === 'qmp_capabilities') reply({ return: {}, id: cmd.id });
      else reply({ error: { class: 'CommandNotFound', desc: 'nope' }, id: cmd.id });
    });
    const qmp = await QmpClient.connect(join(dir, 'q.sock'));
    const failure = qmp.execute('bogus');
    await expect(failure).rejects.toBeInstanceOf(QmpCommandError);
    await expect(failure).rejects.toThrow(/CommandNotFound: nope/);
    qmp.close();
  });

  it('times out a command that gets no answer, and later commands still work', async () => {
    server = await fakeQmp(join(dir, 'q.sock'), (cmd, reply) => {
      if (cmd.execute !== 'hang') reply({ return: { ok: cmd.execute }, id: cmd.id });
    });
    const qmp = await QmpClient.connect(join(dir, 'q.sock'));
    await expect(qmp.execute('hang', undefined, 50)).rejects.toThrow(/no answer in 50 ms/);
    expect(await qmp.execute('query-status')).toEqual({ ok: 'query-status' });
    qmp.close();
  });

  it('fails pending commands when the connection drops', async () => {
    server = await fakeQmp(join(dir, 'q.sock'), (cmd, reply) => {
      if (cmd.execute === 'qmp_capabilities') reply({ return: {}, id: cmd.id });
    });
    const qmp = await QmpClient.connect(join(dir, 'q.sock'));
    const pending = qmp.execute('quit', undefined, 5_000);
    qmp.close();
    await expect(pending).rejects.toThrow(/closed/);
    expect(qmp.closed).toBe(true);
  });

  it('rejects when nothing listens on the socket', async () => {
    await expect(QmpClient.connect(join(dir, 'missing.sock'))).rejects.toThrow(/QMP/);
  });
});
