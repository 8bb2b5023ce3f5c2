import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { ADMIN, call, FACTS, messageOf, startTlsCoordinator } from './join-harness.ts';
import type { TlsCoordinator } from './join-harness.ts';

const beat = {
  capacity: FACTS.capacity,
  usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 100 },
  instances: [],
};

let tls: TlsCoordinator | undefined;
let plain: RunningCoordinator | undefined;
const dirs: string[] = [];

await describeEachDatabase('node heartbeat over the wire', ({ url }) => {
  afterEach(async () => {
    await tls?.close();
    await plain?.close();
    tls = undefined;
    plain = undefined;
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("takes a node's heartbeat on its own certificate only", async () => {
    tls = await startTlsCoordinator(url());
    const nodeA = await tls.join('node-a');
    await tls.join('node-b');
    const own = await call(nodeA.fetch, tls.url, 'POST', '/nodes/node-a/heartbeat', {
      body: beat,
    });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ node: { id: 'node-a', usage: beat.usage } });
    const crossed = await call(nodeA.fetch, tls.url, 'POST', '/nodes/node-b/heartbeat', {
      body: beat,
    });
    expect(crossed.status).toBe(403);
    expect(messageOf(crossed)).toMatch(/node 'node-a' cannot act for node 'node-b'/);
    const anonymous = await call(tls.anonymous, tls.url, 'POST', '/nodes/node-a/heartbeat', {
      body: beat,
    });
    expect(anonymous.status).toBe(401);
  });

  it('serve runs the loss check: a silent node turns lost, and a heartbeat brings it back', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mvm-health-serve-'));
    dirs.push(dataDir);
    plain = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: url(),
        clusterCidr: '10.240.0.0/12',
        adminToken: ADMIN,
        dataDir,
        nodeLostAfterMs: 300,
      },
      { logger: pino({ level: 'silent' }) },
    );
    const base = plain.url;
    const admin = (method: string, path: string, body?: unknown) =>
      call(fetch, base, method, path, { token: ADMIN, body });
    const registered = await admin('PUT', '/nodes/node-1', { ...FACTS, hostname: 'n1' });
    expect(registered.status).toBe(200);
    const status = async () =>
      ((await admin('GET', '/nodes/node-1')).body as { status: string }).status;
    const deadline = Date.now() + 10_000;
    while ((await status()) !== 'lost' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await status()).toBe('lost');
    const back = await admin('POST', '/nodes/node-1/heartbeat', beat);
    expect(back.body).toMatchObject({ recovered: true, node: { status: 'ready' } });
    const events = (await admin('GET', '/events?last=10')).body as Array<{ action: string }>;
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['node.lost', 'node.recovered']),
    );
  });
});
