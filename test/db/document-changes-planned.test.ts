import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { KyselyStore } from '../../src/db/kysely-store.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T2, insertTwoTenants, instance } from './fixtures.ts';

/**
 * The read of changed instances a node's document is patched with (instance-document-
 * changes.ts) is planned once per connection on Postgres, not on every call: every watcher's
 * computation runs it (docs/scale.md, "A node document's reads together").
 */

interface PreparedRow {
  statement: string;
  generic_plans: number;
  custom_plans: number;
}

await describeEachDatabase('the document changes read planned once', (db) => {
  it.skipIf(db.name !== 'postgres')('keeps a generic plan after five calls', async () => {
    await insertTwoTenants(db.store());
    await db.store().instances.insert(instance('w-1', 11, { nodeId: 'node-1' }));
    // One connection, so the session's prepared statements are the ones the store used.
    const url = `${db.url()}${db.url().includes('?') ? '&' : '?'}pool_max=1`;
    const { db: kysely, dialect, prepared } = openDatabase(url);
    const store = new KyselyStore(kysely, dialect, prepared ? { prepared } : {});
    try {
      // 100,000 analysed rows beside w-1 (its row under new keys, the triggers off for the
      // seed): an empty table's costs make any plan cheap enough to keep.
      await sql`alter table instances disable trigger user`.execute(kysely);
      await sql`insert into instances select r.* from instances w, generate_series(1, 100000) g,
          jsonb_populate_record(null::instances, to_jsonb(w) || jsonb_build_object(
            'pool_id', 'gateways', 'id', 'g-' || g, 'mac', 'mac-' || g, 'ip', 'ip-' || g)) r
        where w.tenant_id = 'acme' and w.pool_id = 'workers' and w.id = 'w-1'`.execute(kysely);
      await sql`alter table instances enable trigger user`.execute(kysely);
      await sql`analyze`.execute(kysely);
      const calls = 12;
      let cursor = await store.instances.changeCursor();
      for (let i = 0; i < calls; i += 1) {
        // A change between reads, so each call has one row to find above its cursor.
        const key = { tenantId: 'acme', poolId: 'workers', instanceId: 'w-1' };
        const current = await store.instances.get(key);
        await store.instances.setDesired(
          key,
          i % 2 === 0 ? 'warm' : 'running',
          current!.version,
          T2,
        );
        const changes = await store.instances.documentChanges(cursor, 256);
        expect(changes?.rows.map((r) => r.instance.id)).toEqual(['w-1']);
        cursor = changes!.cursor;
      }
      const { rows } = await sql<PreparedRow>`
        select statement, generic_plans::int, custom_plans::int from pg_prepared_statements
        where statement like '%SELECT 0 AS kind%'`.execute(kysely);
      expect(rows).toHaveLength(1);
      const [planned] = rows;
      // Postgres plans the first five calls custom, then compares: a generic plan kept is
      // used for every call after.
      expect(planned!.custom_plans).toBeLessThanOrEqual(5);
      expect(planned!.generic_plans).toBe(calls - planned!.custom_plans);
    } finally {
      await store.close();
    }
  });
});
