/**
 * What a placing pass's read of pools costs (docs/scale.md "overcommit2"): every pool of a
 * fleet of `--tenants` tenants (one pool each, as fleet-scale's 100k has 500), against the
 * pools of the one tenant a pass places, read alternately, on a
 * fresh database. Prints the median and p90 of each.
 *   npx tsx bench/placement-view-pools.ts [postgres|sqlite] [--tenants 500] [--runs 200]
 */
import { parseArgs } from 'node:util';
import { openStore } from '../src/db/open-store.ts';
import { freshDatabase, seedTenants, tenantId, type StoreName } from './support/fleet-seed.ts';
import { median, percentile } from './support/stats.ts';
import { inProcessCoordinator } from './support/in-process-coordinator.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tenants: { type: 'string', default: '500' },
    runs: { type: 'string', default: '200' },
  },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const tenants = Number(values.tenants);
const runs = Number(values.runs);

const database = await freshDatabase(storeName);
const store = await openStore(database.url);
const { services, api } = await inProcessCoordinator(store);
try {
  await seedTenants((m, p, b) => api(m, p, b), { nodes: 1, tenants, perTenant: 0 });
  const every: number[] = [];
  const placed: number[] = [];
  const one = [tenantId(Math.floor(tenants / 2))];
  const time = async (into: number[], read: () => Promise<unknown>) => {
    const started = performance.now();
    await read();
    into.push(performance.now() - started);
  };
  for (let r = 0; r < runs; r += 1) {
    await time(every, () => store.pools.list());
    await time(placed, () => store.pools.list({ tenantIds: one }));
  }
  const show = (xs: number[]) =>
    `p50 ${median(xs).toFixed(2)} ms, p90 ${percentile(xs, 90).toFixed(2)} ms`;
  console.log(
    `${storeName}, ${tenants} pools: every pool ${show(every)}; one tenant's ${show(placed)}`,
  );
} finally {
  services.desired.close();
  await services.rechecks.close();
  await store.close();
  await database.drop();
}
