import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T2, insertTwoTenants, instance } from './fixtures.ts';
import { plannedStore, preparedStatements } from './support/planned-statements.ts';

/**
 * A toggle's compiled statements on Postgres are planned once per connection, not on every
 * call (docs/scale.md, "Postgres' plans of a toggle"): past the five custom plans Postgres
 * tries first, each keeps a generic plan and makes no more custom ones.
 */

await describeEachDatabase("a toggle's statements planned once", (db) => {
  it.skipIf(db.name !== 'postgres')(
    'keeps a generic plan for the scale write and the marks with the audit and probe',
    async () => {
      await insertTwoTenants(db.store());
      for (let i = 1; i <= 4; i += 1) {
        await db.store().instances.insert(instance(`w-${i}`, 10 + i, { nodeId: 'node-1' }));
      }
      // 10,000 rows of another pool: a real table's costs, which a generic plan is weighed by.
      const { store, kysely } = await plannedStore(db.url(), 10_000);
      try {
        const calls = 12;
        for (let i = 0; i < calls; i += 1) {
          const toWarm = i % 2 === 0;
          await store.transaction(async (repos) => {
            await repos.tenants.lock('acme');
            const { pools, members } = await repos.pools.withMembers('acme', 'workers');
            const pool = pools.find((p) => p.id === 'workers')!;
            // One member, then two, then none: the number of members is not the plan's.
            const chosen = (members ?? []).slice(0, i % 3);
            await repos.pools.updateWithMembers(
              {
                tenantId: 'acme',
                id: 'workers',
                patch: { counts: { running: toWarm ? 2 : 4, warm: toWarm ? 2 : 0, sleeping: 0 } },
                expectedVersion: pool.version,
              },
              chosen.map((m) => ({
                id: m.id,
                version: m.version,
                desiredStatus: toWarm ? 'warm' : 'running',
              })),
              T2,
            );
            await repos.generations.markChangedProbing(['node:node-1', 'tenant:acme'], {
              tenantId: 'acme',
              at: T2,
              actor: 'test',
              action: 'pool.scale',
              target: 'acme/workers',
              detail: { i },
            });
          });
        }
        const rows = await preparedStatements(kysely);
        const of = (pattern: RegExp) => {
          const found = rows.filter((r) => pattern.test(r.statement));
          expect(found).toHaveLength(1);
          return found[0]!;
        };
        const write = of(/^with "pool" as \(update "pools"/);
        const marks = of(/^with "audit" as \(insert into "audit_events"/);
        for (const planned of [write, marks]) {
          // Postgres plans the first five calls custom, then compares: a generic plan kept
          // is used for every call after.
          expect(planned.custom_plans).toBeLessThanOrEqual(5);
          expect(planned.generic_plans).toBe(calls - planned.custom_plans);
        }
        // The scale's answers were right all along: the pool moved once per call.
        expect((await store.pools.get('acme', 'workers'))?.version).toBe(1 + calls);
      } finally {
        await store.close();
      }
    },
  );
});
