/**
 * What one change costs as the fleet grows: a real coordinator over HTTP on SQLite and on
 * Postgres, 100 registered nodes each watched by an agent-side long-poll (watchDesired), and
 * 1k → 10k → 100k placed instances (200 per tenant, bulk-inserted). At each size it prints:
 *  - pool scale p50: one pool scaled up by one (placement) and back down, over the API;
 *  - mutations/s: 4 clients scaling four tenants' pools running ⇄ warm for 3 s;
 *  - agent acting p50: from a running ⇄ warm scale to the watcher of the instance's node
 *    holding the verified document that carries it.
 * Goals (issue 17, Postgres at 100k): scale p50 ≤ 10 ms, ≥ 500 mutations/s, acting p50 ≤ 20 ms.
 *   npx tsx bench/fleet-scale.ts [sizes, e.g. 1000,10000,100000] [stores, e.g. sqlite,postgres]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { serveCoordinator } from '../src/coordinator/serve.ts';
import {
  apiOf,
  freshDatabase,
  seedInstances,
  seedNodes,
  seedTenants,
  tenantId,
  type Api,
  type FleetShape,
  type StoreName,
} from './support/fleet-seed.ts';
import { NodeWatchers } from './support/node-watchers.ts';
import { percentile } from './support/stats.ts';

const sizes = (process.argv[2] ?? '1000,10000,100000').split(',').map(Number);
const stores = (process.argv[3] ?? 'sqlite,postgres').split(',') as StoreName[];
const NODES = 100;
const PER_TENANT = 200;
const SAMPLES = 40;
const quiet = pino({ level: 'silent' });

interface Row {
  store: StoreName;
  instances: number;
  seedMs: number;
  scaleP50: number;
  scaleP90: number;
  mutationsPerSec: number;
  actingP50: number;
  actingP90: number;
}

interface ScaleAnswer {
  changed: Array<{ nodeId: string | null }>;
}

const scalePath = (t: number) => `/tenants/${tenantId(t)}/pools/w/scale`;

async function scaleLatency(api: Api): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const running = i % 2 === 0 ? PER_TENANT + 1 : PER_TENANT;
    const started = performance.now();
    await api('POST', scalePath(0), { running });
    times.push(performance.now() - started);
  }
  return times;
}

async function mutationsPerSecond(api: Api, tenants: number): Promise<number> {
  const clients = Math.min(4, tenants - 2);
  const deadline = performance.now() + 3000;
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < deadline; i += 1) {
        const warm = i % 2 === 0 ? 1 : 0;
        await api('POST', scalePath(2 + c), { running: PER_TENANT - warm, warm });
        done += 1;
      }
    }),
  );
  return done / 3;
}

async function actingLatency(api: Api, watchers: NodeWatchers): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const warm = i % 2 === 0 ? 1 : 0;
    const before = watchers.snapshot();
    const started = performance.now();
    const answer = (await api('POST', scalePath(1), {
      running: PER_TENANT - warm,
      warm,
    })) as ScaleAnswer;
    const node = answer.changed[0]?.nodeId;
    if (!node)
      throw new Error(
        `the scale changed no placed instance: ${JSON.stringify(answer.changed).slice(0, 700)}`,
      );
    await watchers.after(node, before.get(node) ?? 0);
    times.push(performance.now() - started);
  }
  return times;
}

async function measureStore(store: StoreName): Promise<Row[]> {
  const database = await freshDatabase(store);
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-bench-scale-data-'));
  const token = randomBytes(32).toString('hex');
  const coordinator = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl: database.url,
      clusterCidr: '10.240.0.0/12',
      adminToken: token,
      dataDir,
    },
    { logger: quiet },
  );
  const api = apiOf(coordinator.url, token);
  const rows: Row[] = [];
  let watchers: NodeWatchers | undefined;
  try {
    let tenants = 0;
    for (const size of sizes) {
      const shape: FleetShape = { nodes: NODES, tenants: size / PER_TENANT, perTenant: PER_TENANT };
      const started = performance.now();
      if (!watchers) {
        await seedNodes(api, NODES);
        watchers = await NodeWatchers.start(coordinator.url, token, NODES);
      }
      await seedTenants(api, shape, tenants);
      await seedInstances(database.url, shape, tenants);
      const seedMs = performance.now() - started;
      tenants = shape.tenants;
      await watchers.settled();
      const scale = await scaleLatency(api);
      const mutations = await mutationsPerSecond(api, tenants);
      const acting = await actingLatency(api, watchers);
      rows.push({
        store,
        instances: size,
        seedMs,
        scaleP50: percentile(scale, 50),
        scaleP90: percentile(scale, 90),
        mutationsPerSec: mutations,
        actingP50: percentile(acting, 50),
        actingP90: percentile(acting, 90),
      });
      console.error(`${store} ${size}: done (seeded in ${(seedMs / 1000).toFixed(1)} s)`);
    }
  } finally {
    await watchers?.stop();
    await coordinator.close();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
  return rows;
}

const rows: Row[] = [];
for (const store of stores) rows.push(...(await measureStore(store)));
const ms = (v: number) => `${v.toFixed(1)} ms`;
console.log(`${NODES} nodes watched, ${PER_TENANT} instances per tenant, ${SAMPLES} samples each`);
console.log('| store | instances | pool scale p50 (p90) | mutations/s | agent acting p50 (p90) |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(
    `| ${r.store} | ${r.instances} | ${ms(r.scaleP50)} (${ms(r.scaleP90)}) | ${r.mutationsPerSec.toFixed(0)} | ${ms(r.actingP50)} (${ms(r.actingP90)}) |`,
  );
}
const goal = rows.filter((r) => r.store === 'postgres').at(-1);
if (goal) {
  const met = goal.scaleP50 <= 10 && goal.mutationsPerSec >= 500 && goal.actingP50 <= 20;
  console.log(
    `goals at Postgres ${goal.instances}: scale p50 ≤ 10 ms, ≥ 500 mutations/s, acting p50 ≤ 20 ms: ${met ? 'MET' : 'MISSED'}`,
  );
}
