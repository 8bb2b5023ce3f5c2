/**
 * Instance watch benchmark (issue 17, item 2): what one poll of an admin watch costs at a given
 * fleet size, before and after the change index (migration 0028). Before, each poll read the
 * whole filtered list (`instances.list`); now it reads the rows changed since its cursor
 * (`instances.changesSince`). Each round writes one instance (a desired-status change through
 * the store, as the API would) and then times the read; medians and p99 over `rounds`.
 *   npx tsx bench/instance-watch.ts [sizes=1000,10000] [rounds=50] [stores=sqlite,postgres]
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import pino from 'pino';
import { serveCoordinator } from '../src/coordinator/serve.ts';
import { openStore } from '../src/db/open-store.ts';
import {
  apiOf,
  freshDatabase,
  seedInstances,
  seedNodes,
  seedTenants,
  tenantId,
  type StoreName,
} from './support/fleet-seed.ts';

const sizes = (process.argv[2] ?? '1000,10000').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 50);
const stores = (process.argv[4] ?? 'sqlite,postgres').split(',') as StoreName[];
const PER_TENANT = 250;

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};
const ms = (n: number) => n.toFixed(2);

async function measure(store: StoreName, size: number): Promise<string> {
  const database = await freshDatabase(store);
  const dir = await mkdtemp(join(tmpdir(), 'mvm-bench-watch-'));
  const admin = randomBytes(24).toString('hex');
  const coordinator = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl: database.url,
      clusterCidr: '10.0.0.0/8',
      adminToken: admin,
      dataDir: dir,
    },
    { logger: pino({ level: 'silent' }) },
  );
  try {
    const shape = { nodes: 10, tenants: Math.ceil(size / PER_TENANT), perTenant: PER_TENANT };
    const api = apiOf(coordinator.url, admin);
    await seedNodes(api, shape.nodes);
    await seedTenants(api, shape);
    await coordinator.close();
    await seedInstances(database.url, shape);
    const s = await openStore(database.url);
    try {
      const all = await s.instances.list();
      let cursor = await s.instances.changeCursor();
      const full: number[] = [];
      const changed: number[] = [];
      let seen = 0;
      for (let round = 0; round < rounds; round += 1) {
        const target = all[(round * 7919) % all.length];
        if (target === undefined) throw new Error('no instances');
        const key = { tenantId: target.tenantId, poolId: target.poolId, instanceId: target.id };
        const now = await s.instances.get(key);
        const desired = now?.desiredStatus === 'running' ? 'warm' : 'running';
        await s.instances.setDesired(key, desired, now?.version ?? 1, new Date().toISOString());
        let t = performance.now();
        await s.instances.list();
        full.push(performance.now() - t);
        t = performance.now();
        const step = await s.instances.changesSince(cursor);
        changed.push(performance.now() - t);
        cursor = step.next;
        seen += step.changes.length;
      }
      // A tenant's watch (a tenant token): the list of one tenant against its changes.
      const tenantFull: number[] = [];
      for (let round = 0; round < rounds; round += 1) {
        const t = performance.now();
        await s.instances.list({ tenantId: tenantId(0) });
        tenantFull.push(performance.now() - t);
      }
      return [
        store.padEnd(8),
        String(all.length).padStart(7),
        `${ms(quantile(full, 0.5))} / ${ms(quantile(full, 0.99))}`.padStart(18),
        `${ms(quantile(changed, 0.5))} / ${ms(quantile(changed, 0.99))}`.padStart(18),
        `${ms(quantile(tenantFull, 0.5))}`.padStart(10),
        String(seen).padStart(6),
      ].join(' | ');
    } finally {
      await s.close();
    }
  } finally {
    await coordinator.close().catch(() => undefined);
    await database.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(
  `one admin watch poll after one write, ${rounds} rounds (ms, p50 / p99); "seen" counts the changed rows the change reads handed over (one per round)`,
);
console.log('store    | fleet   | whole list (was)   | changes since (now) | tenant list | seen');
for (const size of sizes) for (const store of stores) console.log(await measure(store, size));
