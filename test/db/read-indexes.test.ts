import { CompiledQuery, sql, type Kysely } from 'kysely';
import { expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open-store.ts';
import { warmOnNodesQuery } from '../../src/db/repos/instance-probes.ts';
import { idsParam } from '../../src/db/repos/id-list.ts';
import { tenantNodesQuery } from '../../src/db/repos/tenant-nodes.ts';
import type { Database } from '../../src/db/schema.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

/**
 * The reads of relief and of a document's peers are answered by their indexes (migration
 * 0041, docs/scale.md "Quotas and relief read what they touch"): the warm candidates by
 * `(status, node_id)`, the nodes holding a tenant from the live allocations' partial index
 * alone. On Postgres the plan is asked with sequential scans off (a test's tables are too
 * small for the planner to prefer an index otherwise), which still shows whether it can.
 */

interface Compilable {
  compile(): CompiledQuery;
}

async function planOf(db: Kysely<Database>, postgres: boolean, query: Compilable) {
  const { sql: text, parameters } = query.compile();
  if (!postgres) {
    const rows = await db.executeQuery<{ detail: string }>(
      CompiledQuery.raw(`EXPLAIN QUERY PLAN ${text}`, [...parameters]),
    );
    return rows.rows.map((r) => r.detail).join('\n');
  }
  return db.transaction().execute(async (trx) => {
    await sql`SET LOCAL enable_seqscan = off`.execute(trx);
    await sql`SET LOCAL enable_bitmapscan = off`.execute(trx);
    const rows = await trx.executeQuery<{ 'QUERY PLAN': string }>(
      CompiledQuery.raw(`EXPLAIN ${text}`, [...parameters]),
    );
    return rows.rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

await describeEachDatabase('read indexes', (harness) => {
  it('reads the nodes holding tenants from the live allocations index alone', async () => {
    const { db, dialect } = openDatabase(harness.url());
    try {
      const plan = await planOf(
        db,
        dialect === 'postgres',
        tenantNodesQuery(db, idsParam(db, ['a', 'b'])),
      );
      if (dialect === 'postgres')
        expect(plan).toMatch(/Index Only Scan using node_allocations_live_tenant/);
      // SQLite finds the live entries in the partial index (then reads each one's row).
      else
        expect(plan).toMatch(
          /SEARCH node_allocations USING (COVERING )?INDEX node_allocations_live_tenant/,
        );
    } finally {
      await db.destroy();
    }
  });

  it("reads relief's warm candidates by status and node", async () => {
    const { db, dialect } = openDatabase(harness.url());
    try {
      const plan = await planOf(db, dialect === 'postgres', warmOnNodesQuery(db, ['n1', 'n2']));
      expect(plan).toMatch(/instances_status_node_idx/);
      expect(plan).not.toMatch(/SCAN instances\b(?! USING)|Seq Scan on instances/);
    } finally {
      await db.destroy();
    }
  });
});
