/**
 * An instance action's quota check as the tenant and the fleet grow (issue 17, item 1): a
 * stop ⇄ start toggle of one instance of a tenant with `--per-tenant` running instances, in a
 * fleet of `instances` (bulk-inserted, the fleet-scale shape: 100 nodes, tenants spread over
 * every node). Counts the statements and the instance rows an action reads, and times it.
 *   npx tsx bench/action-quota.ts [postgres|sqlite] [--instances 100000] [--per-tenant 200] [--runs 40]
 */
import { parseArgs } from 'node:util';
import { tenantId, type FleetShape, type StoreName } from './support/fleet-seed.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { median, percentile } from './support/stats.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    instances: { type: 'string', default: '100000' },
    'per-tenant': { type: 'string', default: '200' },
    runs: { type: 'string', default: '40' },
  },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const perTenant = Number(values['per-tenant']);
const shape: FleetShape = {
  nodes: 100,
  tenants: Math.max(1, Math.round(Number(values.instances) / perTenant)),
  perTenant,
};
const runs = Number(values.runs);

let statements: string[] | undefined;
const { store, services, close } = await seededFleet(storeName, shape, {
  store: { tokenCacheMs: 600_000, onQuery: (sql) => statements?.push(sql) },
});
const admin = { kind: 'admin', tokenName: 'bench' } as const;

try {
  const [first] = await store.instances.list({ tenantId: tenantId(0), limit: 1 });
  if (!first) throw new Error('no instance seeded');
  const key = { tenantId: first.tenantId, poolId: first.poolId, instanceId: first.id };
  const samples: number[] = [];
  const perAction: number[] = [];
  const wide: number[] = [];
  for (let r = 0; r < runs; r += 1) {
    for (const action of ['stop', 'start'] as const) {
      statements = [];
      const started = performance.now();
      await services.instances.act(admin, key, { action });
      samples.push(performance.now() - started);
      perAction.push(statements.length);
      wide.push(
        statements.filter((s) =>
          /^select \* from "instances" where "tenant_id" = \S+$/.test(
            s.replace(/ order by .*/, ''),
          ),
        ).length,
      );
      statements = undefined;
    }
  }
  const stored = await store.instances.get(key);
  console.log(
    `${storeName}: ${shape.tenants * shape.perTenant} instances, tenant of ${perTenant}: ` +
      `action p50 ${median(samples).toFixed(2)} ms, p90 ${percentile(samples, 90).toFixed(2)} ms ` +
      `over ${samples.length}; statements per action ${median(perAction)}; reads of the ` +
      `tenant's every instance per action ${median(wide)}; ends ${String(stored?.desiredStatus)}`,
  );
  if (stored?.desiredStatus !== 'running') process.exitCode = 1;
} finally {
  await close();
}
