/**
 * Concurrent scales that need placement, each client its own tenant: how many changes of
 * intent a coordinator takes per second when every scale up leaves an instance for the
 * scheduler (issue 17: the scheduler's lock on every tenant serialized them). An in-process
 * coordinator over a fresh database; every client alternates one instance up and down.
 * At the end it checks what must hold under concurrency: nothing unplaced, no node holding
 * more than its capacity.
 *   npx tsx bench/placing-scales.ts [postgres|sqlite] [--clients 8] [--nodes 3] [--seconds 5]
 */
import { parseArgs } from 'node:util';
import { openStore } from '../src/db/open-store.ts';
import { freshDatabase, type StoreName } from './support/fleet-seed.ts';
import { median, percentile } from './support/stats.ts';
import { inProcessCoordinator } from './support/in-process-coordinator.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    clients: { type: 'string', default: '8' },
    nodes: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
  },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const clients = Number(values.clients);
const nodeCount = Number(values.nodes);
const seconds = Number(values.seconds);

const database = await freshDatabase(storeName);
const store = await openStore(database.url);
const { services, api: call } = await inProcessCoordinator(store);

try {
  // Room for every client's instances: one vCPU each, at most two per client at a time.
  const capacity = {
    vcpus: Math.ceil((2 * clients) / nodeCount) + 1,
    memMib: 65_536,
    diskGib: 100,
  };
  for (let n = 0; n < nodeCount; n += 1) {
    await call('PUT', `/nodes/node-${n}`, { hostname: `node-${n}`, arch: 'x86_64', capacity });
  }
  const tenants = Array.from({ length: clients }, (_, i) => `t${String(i).padStart(3, '0')}`);
  for (const tenant of tenants) {
    await call('POST', '/tenants', { id: tenant });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await call('POST', `/tenants/${tenant}/pools`, pool);
    await call('POST', `/tenants/${tenant}/pools/web/scale`, { running: 1 });
  }
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    tenants.map(async (tenant) => {
      for (let up = true; performance.now() < deadline; up = !up) {
        const t0 = performance.now();
        await call('POST', `/tenants/${tenant}/pools/web/scale`, { running: up ? 2 : 1 });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const unplaced = await store.instances.listUnplaced();
  const nodes = await store.nodes.list();
  const held = new Map<string, number>();
  for (const a of await store.nodes.allocations()) {
    held.set(a.nodeId, (held.get(a.nodeId) ?? 0) + a.holding);
  }
  const over = nodes.filter((n) => (held.get(n.id) ?? 0) > n.capacity.vcpus).map((n) => n.id);
  console.log(
    `${storeName}: ${clients} clients (one tenant each) on ${nodeCount} nodes for ${seconds} s: ` +
      `${(latencies.length / elapsed).toFixed(0)} mutations/s, scale p50 ${median(latencies).toFixed(1)} ms, ` +
      `p99 ${percentile(latencies, 99).toFixed(1)} ms; unplaced ${unplaced.length}, nodes over capacity ${over.length}`,
  );
  if (unplaced.length > 0 || over.length > 0) process.exitCode = 1;
} finally {
  services.desired.close();
  await services.rechecks.close();
  await store.close();
  await database.drop();
}
