/**
 * The coordinator's CPU per request over HTTP, as `coordinator serve` runs it (@hono/node-server
 * on loopback, a real pino logger at info to /dev/null), for a pool's running ⇄ warm toggle on
 * Postgres seeded like bench/toggle-cpu.ts (100 nodes, tenants of 200 placed running
 * instances; no watchers, so no documents). A child process (support/request-replay.ts) sends
 * the toggles over one keep-alive socket, so this process's CPU is the coordinator's alone.
 * `--read` sends `GET …/pools/w` instead (the request path with one cheap read), `--health`
 * `GET /v1/health` (the request path alone: no token, no store). Run with
 * `node --cpu-prof` to see where the request path's own time goes; compare builds by running
 * it from each, alternated.
 *   npx tsx bench/request-cost.ts [--instances 2000] [--rounds 5] [--requests 300] [--read]
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { createCoordinatorApp } from '../src/coordinator/app.ts';
import { openStore } from '../src/db/open-store.ts';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import {
  freshDatabase,
  nodeCapacity,
  nodeId,
  seedInstances,
  seedTenants,
  tenantId,
  type Api,
} from './support/fleet-seed.ts';
import type { ReplayJob, ReplayRequest } from './support/request-replay.ts';
import { median } from './support/stats.ts';

const { values: flags } = parseArgs({
  options: {
    instances: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '300' },
    read: { type: 'boolean', default: false },
    health: { type: 'boolean', default: false },
  },
});
const size = Number(flags.instances);
const rounds = Number(flags.rounds);
const perRound = Number(flags.requests);
const PER_TENANT = 200;
const NODES = 100;
const ADMIN = `mvm_${'r'.repeat(43)}`;

const database = await freshDatabase('postgres');
const store = await openStore(database.url);
let suffix = 0;
const { app, services } = createCoordinatorApp({
  store,
  clock: systemClock,
  clusterCidr: '10.240.0.0/12',
  version: 'bench',
  randomSuffix: () => `r${(suffix += 1).toString(36)}`,
  logger: pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true })),
});
const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
  const listening = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () =>
    resolve(listening),
  );
});
try {
  await services.adminToken.adopt({ secret: ADMIN, home: { kind: 'configured' }, source: 'bench' });
  const api: Api = async (method, path, body) => {
    const response = await app.request(`/v1${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
  for (let n = 0; n < NODES; n += 1) {
    const body = { hostname: nodeId(n), arch: 'x86_64', capacity: nodeCapacity };
    await api('PUT', `/nodes/${nodeId(n)}`, body);
  }
  const shape = { nodes: NODES, tenants: Math.max(1, size / PER_TENANT), perTenant: PER_TENANT };
  await seedTenants(api, shape);
  await seedInstances(database.url, shape);
  const pool = `/tenants/${tenantId(0)}/pools/w`;
  const toggle = (i: number) => ({ running: PER_TENANT - (i % 2), warm: i % 2 });
  const request = (i: number): ReplayRequest =>
    flags.health
      ? { method: 'GET', path: '/health', body: undefined }
      : flags.read
        ? { method: 'GET', path: pool, body: undefined }
        : { method: 'POST', path: `${pool}/scale`, body: toggle(i) };
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  await replay(
    url,
    Array.from({ length: 100 }, (_, i) => request(i)),
  ); // warm up: JIT, caches
  const perRequest: number[] = [];
  const window0 = process.hrtime.bigint() / 1000n;
  for (let r = 0; r < rounds; r += 1) {
    const requests = Array.from({ length: perRound }, (_, i) => request(i));
    const cpu = process.cpuUsage();
    await replay(url, requests);
    const used = process.cpuUsage(cpu);
    perRequest.push((used.user + used.system) / 1000 / perRound);
  }
  // The measured window in a --cpu-prof profile's clock (µs), for tools that read one.
  console.error(`profile window ${window0} ${process.hrtime.bigint() / 1000n}`);
  const shown = perRequest.map((ms) => ms.toFixed(2)).join(', ');
  const what = flags.health ? 'health' : flags.read ? 'pool read' : 'toggle';
  console.log(
    `request-cost, ${what} over HTTP on postgres (${size} instances), coordinator CPU per request (ms), ${rounds} rounds of ${perRound}: ${shown}; median ${median(perRequest).toFixed(2)}, least ${Math.min(...perRequest).toFixed(2)}`,
  );
} finally {
  server.close();
  services.desired.close();
  await services.rechecks.close();
  await store.close();
  await database.drop();
}

/** Has a child process send `requests` over one keep-alive socket; resolves when all are answered. */
async function replay(url: string, requests: ReplayRequest[]): Promise<void> {
  const child = fork(new URL('./support/request-replay.ts', import.meta.url));
  const job: ReplayJob = { url, token: ADMIN, requests };
  await new Promise<void>((resolve) => {
    child.once('message', () => resolve());
    child.send(job);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (answer: { error?: string }) => {
      child.kill();
      if (answer.error !== undefined) reject(new Error(answer.error));
      else resolve();
    });
    child.send('go');
  });
}
