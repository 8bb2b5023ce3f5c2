import { expect, it } from 'vitest';
import { openStore } from '../../src/db/open-store.ts';
import { node } from '../db/fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { admin, manualClock, plainWebTenant, policyCoordinator } from './support/policy-harness.ts';

/**
 * A placing pass reads the pools of the tenants it places (and of the instances its pressure
 * pass considers), not every pool of the fleet (docs/scale.md, "overcommit2").
 */
const T0 = Date.parse('2026-03-01T09:00:00.000Z');

/**
 * A statement reading pools of no named tenant: every pool of the fleet. Tenants are named by
 * `=`, an `in` list, or one id-list parameter (`IN (SELECT value FROM json_each(?))` on
 * SQLite, `= ANY($1::text[])` on Postgres: db/repos/id-list.ts).
 */
const everyPool = (sql: string) =>
  /^select .* from "pools"/.test(sql) && !/"tenant_id" (in|=) /i.test(sql);

await describeEachDatabase('a placing pass reads the pools it places', (db) => {
  it("reads only the placed tenant's pools, and still counts the other tenants' sizes", async () => {
    const statements: string[] = [];
    const store = await openStore(db.url(), {
      onQuery: (sql) => statements.push(sql.replace(/\s+/g, ' ')),
    });
    try {
      const services = policyCoordinator(store, manualClock(T0));
      await store.nodes.upsert(
        node('node-1', { capacity: { vcpus: 2, memMib: 1024, diskGib: 100 } }),
      );
      for (const tenant of ['acme', 'beta', 'gamma']) await plainWebTenant(services, tenant);
      await services.pools.scale(admin, 'beta', 'web', { running: 1 });
      statements.length = 0;
      await services.pools.scale(admin, 'acme', 'web', { running: 1 });
      expect((await store.instances.list({ tenantId: 'acme' }))[0]?.nodeId).toBe('node-1');
      expect(statements.filter(everyPool)).toEqual([]);
      // The pools' sizes still count: the node has no room for a third.
      await services.pools.scale(admin, 'gamma', 'web', { running: 1 });
      expect((await store.instances.list({ tenantId: 'gamma' }))[0]?.nodeId).toBeNull();
      expect(statements.filter(everyPool)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
