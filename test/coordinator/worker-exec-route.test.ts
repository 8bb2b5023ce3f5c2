/**
 * The coordinator's workerExec route (docs/openclaw.md, "Worker exec") on SQLite and Postgres:
 * who may open it and which worker a gateway's command may reach. The upgrade is answered
 * before any session starts, so a refusal is the HTTP answer and 101 means the worker was
 * resolved and the session accepted (it then runs as any exec session: the QEMU e2e).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

interface World {
  coordinator: RunningCoordinator;
  api: ApiClient;
  admin: string;
  tenantToken: string;
  gw: string;
  worker: string;
  rivalWorker: string;
  dir: string;
}

let world: World | undefined;

async function build(databaseUrl: string): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-sandbox-route-'));
  const admin = randomBytes(24).toString('hex');
  const coordinator = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl,
      clusterCidr: '10.240.0.0/12',
      adminToken: admin,
      dataDir: join(dir, 'coordinator'),
    },
    { logger: pino({ level: 'silent' }) },
  );
  const api = createApiClient({ baseUrl: coordinator.url, token: admin, timeoutMs: 30_000 });
  for (const node of ['n1', 'n2']) {
    await api.call('registerNode', {
      params: { node },
      body: { hostname: node, arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 10 } },
    });
  }
  const ids: Record<string, string> = {};
  const pools = [
    ['acme', 'gw', 'gateway'],
    ['acme', 'workers', 'worker'],
    ['rival', 'workers', 'worker'],
  ] as const;
  for (const tenant of ['acme', 'rival']) await api.call('createTenant', { body: { id: tenant } });
  for (const [tenant, pool, role] of pools) {
    await api.call('createPool', {
      params: { tenant },
      body: { id: pool, role, vcpus: 1, memMib: 256 },
    });
    const scaled = await api.call('scalePool', { params: { tenant, pool }, body: { running: 1 } });
    ids[`${tenant}/${pool}`] = scaled.created[0]?.id ?? '';
  }
  await api.call('runScheduler', {});
  const tenantToken = (
    await api.call('createToken', { params: { tenant: 'acme' }, body: { name: 'ci' } })
  ).token;
  return {
    coordinator,
    api,
    admin,
    tenantToken,
    gw: ids['acme/gw'] ?? '',
    worker: ids['acme/workers'] ?? '',
    rivalWorker: ids['rival/workers'] ?? '',
    dir,
  };
}

/** The gateway's node, as the scheduler placed it. */
async function gatewayNode(w: World): Promise<string> {
  const gw = (await w.api.call('listInstances', { query: { tenant: 'acme' } })).find(
    (i) => i.id === w.gw,
  );
  if (!gw?.nodeId) throw new Error('the gateway was not placed');
  return gw.nodeId;
}

/** The upgrade's answer: 101, or the refusal's status and error message. */
function upgrade(
  w: World,
  path: string,
  token = w.admin,
): Promise<{ status: number; message?: string }> {
  const ws = new WebSocket(`${w.coordinator.url.replace(/^http/, 'ws')}/v1${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          error: { message: string };
        };
        resolve({ status: response.statusCode ?? 0, message: body.error.message });
      });
    });
    ws.once('error', (error) => {
      if (!String(error).includes('Unexpected server response')) reject(error);
    });
  });
}

await describeEachDatabase('the workerExec route', ({ url }) => {
  afterEach(async () => {
    await world?.coordinator.close();
    if (world) await rm(world.dir, { recursive: true, force: true });
    world = undefined;
  });

  it("opens only for the gateway's node, into a live worker of the gateway's own tenant", async () => {
    const w = (world = await build(url()));
    const node = await gatewayNode(w);
    const other = node === 'n1' ? 'n2' : 'n1';
    const path = (onNode: string, gateway: string, query: string) =>
      `/nodes/${onNode}/gateways/acme/${gateway}/worker-exec${query}`;

    expect(await upgrade(w, path(node, `gw/${w.gw}`, '?worker=agent:main:main'))).toEqual({
      status: 101,
    });
    expect(await upgrade(w, path(node, `gw/${w.gw}`, ''))).toEqual({ status: 101 });
    expect(await upgrade(w, path(node, `gw/${w.gw}`, `?target=workers/${w.worker}`))).toEqual({
      status: 101,
    });

    // Another tenant's worker is the 404 of a missing one; so is a gateway on another node,
    // a pool that is no gateway, and a missing gateway.
    const rival = await upgrade(w, path(node, `gw/${w.gw}`, `?target=workers/${w.rivalWorker}`));
    expect(rival.status).toBe(404);
    expect(rival.message).toContain('not found');
    const missing = await upgrade(w, path(node, `gw/${w.gw}`, '?target=workers/no-such'));
    expect(missing).toEqual({
      ...rival,
      message: rival.message?.replace(w.rivalWorker, 'no-such'),
    });
    expect((await upgrade(w, path(other, `gw/${w.gw}`, ''))).status).toBe(404);
    expect((await upgrade(w, path(node, `workers/${w.worker}`, ''))).status).toBe(404);
    expect((await upgrade(w, path(node, 'gw/nope', ''))).status).toBe(404);

    // Bad input: a 400, and a tenant's token is no node's.
    expect((await upgrade(w, path(node, `gw/${w.gw}`, '?worker=a%20b'))).status).toBe(400);
    expect(
      (await upgrade(w, path(node, `gw/${w.gw}`, `?worker=k&target=workers/${w.worker}`))).status,
    ).toBe(400);
    expect((await upgrade(w, path(node, `gw/${w.gw}`, '?tenant=rival'))).status).toBe(400);
    expect((await upgrade(w, path(node, `gw/${w.gw}`, ''), w.tenantToken)).status).toBe(403);

    // A stopped worker takes no commands: the tenant then has none.
    await w.api.call('instanceAction', {
      params: { tenant: 'acme', pool: 'workers', instance: w.worker },
      body: { action: 'stop' },
    });
    const none = await upgrade(w, path(node, `gw/${w.gw}`, '?worker=agent:main:main'));
    expect(none.status).toBe(404);
    expect(none.message).toContain('no live worker');
  });
});
