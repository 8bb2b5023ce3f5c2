import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FirecrackerApiClient,
  waitForSocket,
} from '../../../src/drivers/firecracker/api-client.ts';
import { detectVersion } from '../../../src/drivers/firecracker/firecracker-version.ts';
import { systemClock } from './support/firecracker-env.ts';

interface Seen {
  method: string;
  url: string;
  body: string;
}

/** Answers like Firecracker: 204 for accepted writes, 400 with `fault_message` for refusals. */
function fakeFirecracker(path: string, seen: Seen[]): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/version') {
        res.writeHead(404).end();
      } else if (req.method === 'GET') {
        res.end(
          JSON.stringify({
            id: 'x',
            state: 'Running',
            vmm_version: '0.25.2',
            app_name: 'Firecracker',
          }),
        );
      } else if (req.url === '/vm') {
        res.writeHead(400).end(JSON.stringify({ fault_message: 'The VM is not started' }));
      } else {
        res.writeHead(204).end();
      }
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe('FirecrackerApiClient', () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-fcapi-'));
  });
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('sends JSON bodies and surfaces fault_message in a HostError', async () => {
    const seen: Seen[] = [];
    const sock = join(dir, 'api.sock');
    server = await fakeFirecracker(sock, seen);
    const client = new FirecrackerApiClient(sock);
    await client.put('/machine-config', { vcpu_count: 1, mem_size_mib: 128 });
    expect(seen[0]).toEqual({
      method: 'PUT',
      url: '/machine-config',
      body: '{"vcpu_count":1,"mem_size_mib":128}',
    });
    await expect(client.patch('/vm', { state: 'Paused' })).rejects.toMatchObject({
      code: 'host_failure',
      message: expect.stringMatching(/PATCH \/vm failed with HTTP 400: The VM is not started/),
      details: expect.objectContaining({ faultMessage: 'The VM is not started', status: 400 }),
    });
  });

  it('falls back from GET /version to GET / for the version', async () => {
    const sock = join(dir, 'api.sock');
    server = await fakeFirecracker(sock, []);
    expect(await detectVersion(new FirecrackerApiClient(sock))).toMatchObject({
      major: 0,
      minor: 25,
      patch: 2,
    });
  });

  it('says what to check when nothing listens', async () => {
    const client = new FirecrackerApiClient(join(dir, 'gone.sock'));
    await expect(client.get('/')).rejects.toThrow(/is the VMM process still running/);
  });

  it('waits for the socket with a deadline', async () => {
    const sock = join(dir, 'late.sock');
    const waiting = waitForSocket(sock, { clock: systemClock, timeoutMs: 2_000 });
    setTimeout(() => {
      void fakeFirecracker(sock, []).then((s) => (server = s));
    }, 100);
    await expect(waiting).resolves.toBeUndefined();
    await expect(
      waitForSocket(join(dir, 'never.sock'), { clock: systemClock, timeoutMs: 50 }),
    ).rejects.toThrow(/timed out after 50 ms waiting for firecracker API socket .*never.sock/);
    await expect(
      waitForSocket(join(dir, 'never.sock'), {
        clock: systemClock,
        timeoutMs: 5_000,
        abandon: () => 'the process exited with 1',
      }),
    ).rejects.toThrow(/never came up: the process exited with 1/);
  });
});
