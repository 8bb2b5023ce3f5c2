/**
 * A scheduling pass while something is held asleep (by memory pressure, or a raise waiting
 * for room): what it costs as the fleet grows (issue 17, item 1). A fleet of running
 * instances on large nodes (bulk-inserted), and one small full node where one instance waits
 * for room, so every pass has release work and finds no room. Times `scheduler.schedule()`.
 *   npx tsx bench/pressure-pass.ts [postgres|sqlite] [--instances 10000] [--runs 40]
 */
import { parseArgs } from 'node:util';
import type { Instance } from '../src/core/model.ts';
import { nodeId, type FleetShape, type StoreName } from './support/fleet-seed.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { median, percentile } from './support/stats.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    instances: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '40' },
  },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const perTenant = 200;
const shape: FleetShape = {
  nodes: 20,
  tenants: Math.max(1, Math.round(Number(values.instances) / perTenant)),
  perTenant,
};
const runs = Number(values.runs);

const { store, services, api: call, close } = await seededFleet(storeName, shape);

/** A small node full with one running instance, and one instance waiting there for room. */
async function fullNodeWithWaiter(): Promise<Instance> {
  const capacity = { vcpus: 1, memMib: 128, diskGib: 10 };
  await call('PUT', '/nodes/small', { hostname: 'small', arch: 'x86_64', capacity });
  await call('POST', '/tenants', { id: 'waiting', netId: 4000 });
  const pool = { id: 'w', flake: '.', profile: 'minimal', vcpus: 1, memMib: 128 };
  await call('POST', '/tenants/waiting/pools', pool);
  // Both placed on the small node: every large node is cordoned meanwhile.
  for (let n = 0; n < shape.nodes; n += 1) await call('POST', `/nodes/${nodeId(n)}/cordon`);
  await call('POST', '/tenants/waiting/pools/w/scale', { running: 1, sleeping: 1 });
  for (let n = 0; n < shape.nodes; n += 1) await call('POST', `/nodes/${nodeId(n)}/uncordon`);
  const asleep = (await store.instances.list({ tenantId: 'waiting' })).find(
    (i) => i.desiredStatus === 'sleeping',
  );
  if (!asleep || asleep.nodeId !== 'small') throw new Error('the waiter is not on the small node');
  const key = { tenantId: asleep.tenantId, poolId: asleep.poolId, instanceId: asleep.id };
  return services.instances.act({ kind: 'admin', tokenName: 'bench' }, key, { action: 'wake' });
}

try {
  const waiter = await fullNodeWithWaiter();
  if (waiter.pressureSleptAt === null) throw new Error('the waiter was raised: the node had room');
  const samples: number[] = [];
  for (let r = 0; r < runs; r += 1) {
    const started = performance.now();
    await services.scheduler.schedule();
    samples.push(performance.now() - started);
  }
  const still = await store.instances.listPressureHeld();
  console.log(
    `${storeName}: ${shape.tenants * shape.perTenant} instances on ${shape.nodes} nodes, one ` +
      `waiting for room: pass p50 ${median(samples).toFixed(1)} ms, p90 ` +
      `${percentile(samples, 90).toFixed(1)} ms over ${runs}; still waiting ${still.length}`,
  );
  if (still.length !== 1) process.exitCode = 1;
} finally {
  await close();
}
