import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

const FIRST_ENV = 'b1c0e6f4a9d27358e0f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7';
const SECOND_ENV = '5f0a3c9e27d14b8a6c1e0f2d3b4a59687e6d5c4b3a291807f6e5d4c3b2a19080';

let running: RunningCoordinator | undefined;
const dirs: string[] = [];

async function start(databaseUrl: string, dataDir: string, adminToken?: string) {
  running = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl,
      clusterCidr: '10.240.0.0/12',
      dataDir,
      ...(adminToken !== undefined ? { adminToken } : {}),
    },
    { logger: pino({ level: 'silent' }) },
  );
  return running;
}

async function stop(): Promise<void> {
  await running?.close();
  running = undefined;
}

async function statusWith(base: string, token: string): Promise<number> {
  const response = await fetch(`${base}/v1/tenants`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.text();
  return response.status;
}

const fileToken = async (dataDir: string) =>
  (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();

await describeEachDatabase('admin token across restarts', ({ url }) => {
  afterEach(async () => {
    await stop();
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  async function dataDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-admin-rotation-'));
    dirs.push(dir);
    return dir;
  }

  it('deleting admin.token and restarting ends the old token', async () => {
    const dir = await dataDir();
    const first = await start(url(), dir);
    const old = await fileToken(dir);
    expect(await statusWith(first.url, old)).toBe(200);
    await stop();
    await rm(join(dir, 'admin.token'));
    const second = await start(url(), dir);
    const current = await fileToken(dir);
    expect(current).not.toBe(old);
    expect(await statusWith(second.url, current)).toBe(200);
    expect(await statusWith(second.url, old)).toBe(401);
  });

  it('a changed MVM_ADMIN_TOKEN ends the previous value, and the file token too', async () => {
    const dir = await dataDir();
    await start(url(), dir);
    const fromFile = await fileToken(dir);
    await stop();
    await start(url(), dir, FIRST_ENV);
    await stop();
    const c = await start(url(), dir, SECOND_ENV);
    expect(await statusWith(c.url, SECOND_ENV)).toBe(200);
    expect(await statusWith(c.url, FIRST_ENV)).toBe(401);
    expect(await statusWith(c.url, fromFile)).toBe(401);
  });
});
