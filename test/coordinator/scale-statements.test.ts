import { expect, it } from 'vitest';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, type Api, ok } from './api-client-harness.ts';

/**
 * What one pool scale costs the store (docs/scale.md, "The scale's write path"): the same
 * statements whatever the fleet holds (other tenants, the tenant's other pools, more nodes),
 * and none reading a tenant's or the fleet's instances row by row.
 */

const capacity = { vcpus: 1000, memMib: 1_000_000, diskGib: 1000 };
const size = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 128 };

async function addNodes(api: Api, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n += 1) {
    const node = `node-${n}`;
    await ok(api, 'PUT', `/nodes/${node}`, { hostname: node, arch: 'x86_64', capacity });
  }
}

async function tenantWithPool(api: Api, tenant: string, pool: string, running: number) {
  const exists = await api.call('GET', `/tenants/${tenant}`);
  if (exists.status === 404) await ok(api, 'POST', '/tenants', { id: tenant });
  await ok(api, 'POST', `/tenants/${tenant}/pools`, { id: pool, ...size });
  await ok(api, 'POST', `/tenants/${tenant}/pools/${pool}/scale`, { running });
}

/** A store on the test's database that records the text of every statement it runs. */
async function recordingStore(url: string): Promise<{ store: Store; statements: string[] }> {
  const statements: string[] = [];
  // Tokens are cached for the whole test: a token read is no part of a scale.
  const store = await openStore(url, {
    tokenCacheMs: 600_000,
    onQuery: (sql) => statements.push(sql.replace(/\s+/g, ' ')),
  });
  return { store, statements };
}

/** The statements `work` ran. */
async function statementsOf(statements: string[], work: () => Promise<unknown>) {
  statements.length = 0;
  await work();
  return [...statements];
}

/** A statement reading instance rows of a whole tenant, or of the whole fleet. */
const wideRead = (sql: string) =>
  /^select \* from "instances"/.test(sql) && !/"pool_id" = |"node_id" (is null|= )/.test(sql);

await describeEachDatabase('scale statements', (db) => {
  it('runs the same statements for a toggle and a placed scale up whatever the fleet holds', async () => {
    const { store, statements } = await recordingStore(db.url());
    try {
      const api = await apiOver(store);
      await addNodes(api, 0, 2);
      await tenantWithPool(api, 'acme', 'web', 4);
      // A second pool, empty for now: the other pools' counts are read in both phases.
      await tenantWithPool(api, 'acme', 'api', 0);
      const scale = (running: number, warm = 0) =>
        statementsOf(statements, () =>
          ok(api, 'POST', '/tenants/acme/pools/web/scale', { running, warm }),
        );
      const small = { toggle: await scale(3, 1), back: await scale(4, 0), up: await scale(5) };

      // The fleet grows: nodes, other tenants, and another pool of the scaled tenant.
      await addNodes(api, 2, 6);
      for (let t = 0; t < 6; t += 1) await tenantWithPool(api, `t${t}`, 'web', 12);
      await ok(api, 'POST', '/tenants/acme/pools/api/scale', { running: 20 });
      const instances = (await store.instances.list()).length;
      expect(instances).toBeGreaterThanOrEqual(5 + 6 * 12 + 20);
      const large = { toggle: await scale(4, 1), back: await scale(5, 0), up: await scale(6) };

      // Kysely logs a statement once answered: two written together (the tenant's lock and
      // the pools' read, pools.lockedWithMembers) may be logged in either order.
      const sorted = (list: string[]) => [...list].sort();
      for (const kind of ['toggle', 'back', 'up'] as const) {
        expect(sorted(large[kind])).toEqual(sorted(small[kind]));
        expect(small[kind].filter(wideRead)).toEqual([]);
      }
      // A toggle: lock the tenant, its pools and the pool's instances (one statement on
      // Postgres), the other pools' counts, the pool with the instance (one statement on
      // Postgres), the audit event with the marks and the scheduler's probe (one statement on
      // Postgres), all in the transaction: nothing after its commit, since the probe found no
      // work.
      const toggle = small.toggle.filter((s) => !/^(begin|commit)/i.test(s));
      const auditApart = db.name === 'postgres' ? 0 : 1;
      const membersApart = auditApart;
      const probeApart = auditApart;
      const writesApart = auditApart;
      expect(toggle).toHaveLength(5 + auditApart + membersApart + probeApart + writesApart);
      const together = (s: string) =>
        /^with "pool" as \(update "pools".*update "instances"/.test(s);
      expect(toggle.filter(together)).toHaveLength(db.name === 'postgres' ? 1 : 0);
      expect(small.toggle.at(-1)).toMatch(/^commit/i);
      const probe = (s: string) => /"pressure_slept_at"/.test(s) && /"node_id" is null/.test(s);
      expect(toggle.filter(probe)).toHaveLength(1);
      if (db.name === 'postgres') {
        expect(toggle.at(-1)).toMatch(/"audit_events".*"document_marks".*"pressure_slept_at"/);
      }
      // The pool's instances are read as the scale weighs them, never as whole rows.
      expect(toggle.filter((s) => /^select \* from "instances"/.test(s))).toEqual([]);
      expect(toggle.filter((s) => /^insert into "audit_events"/.test(s))).toHaveLength(auditApart);
      expect(toggle.filter((s) => /"document_marks"/.test(s))).toHaveLength(1);
      expect(toggle.filter((s) => /"usedIps"|select "ip" from "instances"/.test(s))).toEqual([]);
      // A scale that creates reads the tenant's addresses and inserts; its pass places it.
      expect(small.up.some((s) => /^insert into "instances"/.test(s))).toBe(true);
      expect(small.up.some((s) => /^select "ip" from "instances"/.test(s))).toBe(true);
      // A tenant with one pool has no other pools' instances to count.
      const single = await statementsOf(statements, () =>
        ok(api, 'POST', '/tenants/t0/pools/web/scale', { running: 11, warm: 1 }),
      );
      expect(single.filter((s) => !/^(begin|commit)/i.test(s))).toHaveLength(
        4 + auditApart + membersApart + probeApart + writesApart,
      );
      expect(single.some((s) => /count\(\*\)/.test(s))).toBe(false);
      const placed = (await store.instances.list({ tenantId: 'acme', poolId: 'web' })).filter(
        (i) => i.desiredStatus === 'running',
      );
      expect(placed).toHaveLength(6);
      expect(placed.filter((i) => i.nodeId === null)).toEqual([]);
      // A scale that changes k instances writes them with the pool: one statement on
      // Postgres (1 + k on SQLite).
      const many = await statementsOf(statements, () =>
        ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 2, warm: 4 }),
      );
      const writes = many.filter((s) => /update "(pools|instances)"/.test(s));
      expect(writes).toHaveLength(db.name === 'postgres' ? 1 : 5);
      expect(many.filter(together)).toHaveLength(db.name === 'postgres' ? 1 : 0);
      const web = await store.instances.list({ tenantId: 'acme', poolId: 'web' });
      expect(web.filter((i) => i.desiredStatus === 'warm')).toHaveLength(4);
      expect(web.filter((i) => i.desiredStatus === 'running')).toHaveLength(2);
      expect((await store.pools.get('acme', 'web'))?.counts).toMatchObject({ running: 2, warm: 4 });
    } finally {
      await store.close();
    }
  });

  it("checks the tenant's quotas across its pools with the other pools counted in the store", async () => {
    const { store } = await recordingStore(db.url());
    try {
      const api = await apiOver(store);
      await addNodes(api, 0, 2);
      await ok(api, 'POST', '/tenants', { id: 'acme', quotas: { maxRunning: 6, maxWarm: 2 } });
      for (const pool of ['web', 'api', 'db']) {
        await ok(api, 'POST', '/tenants/acme/pools', { id: pool, ...size });
      }
      await ok(api, 'POST', '/tenants/acme/pools/api/scale', { running: 3, warm: 1 });
      await ok(api, 'POST', '/tenants/acme/pools/db/scale', { running: 2 });
      // 3 + 2 running elsewhere: one more fits, two do not.
      const over = await api.call('POST', '/tenants/acme/pools/web/scale', {
        body: { running: 2 },
      });
      expect(over.status).toBe(422);
      expect(JSON.stringify(over.body)).toContain('running 7 > max 6');
      expect(await store.instances.list({ tenantId: 'acme', poolId: 'web' })).toEqual([]);
      await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 1 });
      // Warm is counted across pools too; the pool's own instances weigh as planned: moving
      // one of web's running to warm frees a running slot and takes the last warm one.
      await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 0, warm: 1 });
      const warm = await api.call('POST', '/tenants/acme/pools/db/scale', {
        body: { running: 2, warm: 1 },
      });
      expect(warm.status).toBe(422);
      expect(JSON.stringify(warm.body)).toContain('warm 3 > max 2');
      // Stopped instances hold no running slot: scaling db down to 0 frees its two.
      await ok(api, 'POST', '/tenants/acme/pools/db/scale', { running: 0 });
      await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 3, warm: 1 });
    } finally {
      await store.close();
    }
  });

  it("records a scale's, an update's and a destroy's audit event with their marks, in one statement on Postgres", async () => {
    const { store, statements } = await recordingStore(db.url());
    try {
      const api = await apiOver(store);
      await addNodes(api, 0, 1);
      await tenantWithPool(api, 'acme', 'web', 2);
      const tenantMark = async () =>
        (await store.generations.marksOf(['tenant:acme'])).get('tenant:acme') ?? 0;
      const before = await tenantMark();
      const update = await statementsOf(statements, () =>
        ok(api, 'PATCH', '/tenants/acme/pools/web', { minWarmSecs: 5 }),
      );
      const scale = await statementsOf(statements, () =>
        ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 1, warm: 1 }),
      );
      const destroy = await statementsOf(statements, () =>
        ok(api, 'DELETE', '/tenants/acme/pools/web?force=true'),
      );
      const together = (sql: string) => /^with "audit" as \(insert into "audit_events"/.test(sql);
      for (const run of [update, scale, destroy]) {
        expect(run.filter(together)).toHaveLength(db.name === 'postgres' ? 1 : 0);
        expect(run.filter((s) => /insert into "audit_events"/.test(s))).toHaveLength(1);
      }
      // The update and the destroy change the tenant's documents: its mark moved twice.
      expect(await tenantMark()).toBe(before + 2);
      const events = await store.audit.list({ tenantId: 'acme', limit: 3 });
      expect(events.map((e) => [e.action, e.target])).toEqual([
        ['pool.destroy', 'acme/web'],
        ['pool.scale', 'acme/web'],
        ['pool.update', 'acme/web'],
      ]);
      expect(events[1]?.detail).toMatchObject({
        from: { running: 2, warm: 0 },
        to: { running: 1, warm: 1 },
      });
      expect(events[2]?.detail).toEqual({ minWarmSecs: 5 });
    } finally {
      await store.close();
    }
  });
});
