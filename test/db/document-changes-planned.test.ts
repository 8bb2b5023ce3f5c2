import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T2, insertTwoTenants, instance } from './fixtures.ts';
import { plannedStore, preparedStatements } from './support/planned-statements.ts';

/**
 * The read of changed instances a node's document is patched with (instance-document-
 * changes.ts) is planned once per connection on Postgres, not on every call: every watcher's
 * computation runs it (docs/scale.md, "A node document's reads together").
 */

await describeEachDatabase('the document changes read planned once', (db) => {
  it.skipIf(db.name !== 'postgres')('keeps a generic plan after five calls', async () => {
    await insertTwoTenants(db.store());
    await db.store().instances.insert(instance('w-1', 11, { nodeId: 'node-1' }));
    // 100,000 rows: at 10,000 the one-off plan is kept with or without the fix.
    const { store, kysely } = await plannedStore(db.url(), 100_000);
    try {
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
      const rows = (await preparedStatements(kysely)).filter((r) =>
        r.statement.includes('SELECT 0 AS kind'),
      );
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
