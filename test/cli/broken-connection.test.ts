import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createSocketServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_SOCKET_NAME } from '../../src/contract/agent-api.ts';
import { runIn } from './support/run-cli.ts';

/**
 * A coordinator whose connection breaks mid-answer (killed, a proxy cut it, a network drop):
 * a real HTTP server on loopback sends the status line, headers and part of the JSON body,
 * then destroys the socket. The CLI must exit 7 (unavailable) and say what happened.
 */
type Breaker = (socket: Socket) => void;

const partial = '[{"id":"smoke-test","netId":99,"sub';

const breakers: Record<string, Breaker> = {
  'a declared length, half sent': (socket) => {
    socket.write(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n${partial}`,
    );
  },
  'a chunked body, cut mid-chunk': (socket) => {
    socket.write(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n400\r\n${partial}`,
    );
  },
  'headers only': (socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n');
  },
  'nothing at all': () => undefined,
};

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function breaking(breaker: Breaker): Promise<string> {
  server = createServer((request) => {
    // Answer once the request is in, then cut the connection under the half-sent answer.
    request.resume();
    request.on('end', () => {
      breaker(request.socket);
      setTimeout(() => request.socket.destroy(), 20);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

describe('a connection that breaks mid-answer', () => {
  it.each(Object.entries(breakers))('%s: exit 7 with what happened', async (_, breaker) => {
    const url = await breaking(breaker);
    const env = { MVM_COORDINATOR_URL: url, MVM_TOKEN: 'some-token' };
    const run = await runIn(['tenant', 'list'], { env, fetch });
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 7, stdout: '' });
    expect(run.stderr).toMatch(new RegExp(`^error: .*coordinator at ${url}`));
    expect(run.stderr).not.toMatch(/internal error|please report/);
  });

  it('a change whose answer broke off says it may have been made', async () => {
    const url = await breaking(breakers['a declared length, half sent'] as Breaker);
    const env = { MVM_COORDINATOR_URL: url, MVM_TOKEN: 'some-token' };
    const run = await runIn(['tenant', 'create', 'half-answered', '--json'], { env, fetch });
    expect(run.code).toBe(7);
    expect(run.stderr).toContain(`the connection to the coordinator at ${url} broke`);
    expect(run.stderr).toMatch(/the change may have been made; check with the matching 'mvm/);
    expect(JSON.parse(run.stderr.trim().split('\n').pop() ?? '')).toMatchObject({
      error: { code: 'unavailable' },
    });
  });
});

describe("the local agent's answer breaking off", () => {
  it('exits 7 instead of waiting forever', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mvm-broken-agent-'));
    const agent = createSocketServer((socket) =>
      socket.once('data', () => {
        (breakers['a declared length, half sent'] as Breaker)(socket);
        setTimeout(() => socket.destroy(), 20);
      }),
    );
    try {
      await new Promise<void>((resolve) => agent.listen(join(dataDir, AGENT_SOCKET_NAME), resolve));
      const run = await runIn(['agent', 'instance', 'list'], { env: { MVM_DATA_DIR: dataDir } });
      expect(run.code).toBe(7);
      expect(run.stderr).toMatch(/the local agent at .* broke off its answer/);
    } finally {
      agent.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
