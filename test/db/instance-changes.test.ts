/**
 * The instance change index (migration 0028, src/db/repos/instance-changes.ts) on SQLite and
 * Postgres: a reader of changesSince gets exactly the rows written and deleted since its
 * cursor, in stamp order, scoped by tenant and pool; and on Postgres a transaction that began
 * writing before another but commits after it is not skipped: the cursor waits for it, also
 * when it commits after the reading statement's snapshot was taken.
 */
import { sql } from 'kysely';
import { beforeEach, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open-store.ts';
import { changeCursor } from '../../src/db/repos/instance-changes.ts';
import { T1, T2, instance, keyOf, pool, tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('instance change index', ({ store, name, url }) => {
  beforeEach(async () => {
    await store().tenants.insert(tenant('acme', 99));
    await store().tenants.insert(tenant('beta', 98));
    await store().pools.insert(pool('acme', 'workers'));
    await store().pools.insert(pool('beta', 'workers'));
  });

  const label = (c: { instance: { tenantId: string; id: string }; deleted: boolean }) =>
    `${c.deleted ? '-' : '+'}${c.instance.tenantId}/${c.instance.id}`;

  it('hands over only what changed since the cursor, deletions from their tombstones', async () => {
    for (let n = 1; n <= 5; n += 1) await store().instances.insert(instance(`w-${n}`, 10 + n));
    await store().instances.insert(
      instance('w-1', 11, { tenantId: 'beta', mac: '02:00:00:00:01:01' }),
    );
    const first = await store().instances.changesSince(0);
    expect(first.changes.map(label)).toEqual([
      '+acme/w-1',
      '+acme/w-2',
      '+acme/w-3',
      '+acme/w-4',
      '+acme/w-5',
      '+beta/w-1',
    ]);
    // Nothing new: nothing handed over, the cursor stays.
    const idle = await store().instances.changesSince(first.next);
    expect(idle.changes).toEqual([]);
    expect(idle.next).toBeGreaterThanOrEqual(first.next);

    const w3 = keyOf(instance('w-3', 13));
    const slept = await store().instances.setDesired(w3, 'sleeping', 1, T1);
    await store().instances.delete(keyOf(instance('w-5', 15)));
    await store().instances.transition(
      { tenantId: 'beta', poolId: 'workers', instanceId: 'w-1' },
      'created',
      'running',
      T2,
    );
    const second = await store().instances.changesSince(idle.next);
    expect(second.changes.map(label)).toEqual(['+acme/w-3', '-acme/w-5', '+beta/w-1']);
    expect(second.changes[0]?.instance).toEqual(slept);
    // A tombstone holds the instance as it last was.
    expect(second.changes[1]?.instance).toMatchObject({ id: 'w-5', ip: '10.240.99.15' });
    const acme = await store().instances.changesSince(idle.next, { tenantId: 'acme' });
    expect(acme.changes.map(label)).toEqual(['+acme/w-3', '-acme/w-5']);
    const beta = await store().instances.changesSince(idle.next, {
      tenantId: 'beta',
      poolId: 'workers',
    });
    expect(beta.changes.map(label)).toEqual(['+beta/w-1']);
    expect((await store().instances.changesSince(second.next)).changes).toEqual([]);
  });

  it.runIf(name === 'postgres')(
    'does not pass a transaction that wrote first and commits last',
    async () => {
      await store().instances.insert(instance('w-1', 11));
      await store().instances.insert(instance('w-2', 12));
      let cursor = (await store().instances.changesSince(0)).next;
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let wrote: () => void = () => undefined;
      const written = new Promise<void>((resolve) => (wrote = resolve));
      const slow = store().transaction(async (repos) => {
        await repos.instances.setDesired(keyOf(instance('w-1', 11)), 'sleeping', 1, T1);
        wrote();
        await held;
      });
      await written;
      await store().instances.setDesired(keyOf(instance('w-2', 12)), 'warm', 1, T1);
      // The later writer has committed, the earlier one not: the reader must wait for both.
      const meanwhile = await store().instances.changesSince(cursor);
      expect(meanwhile.changes).toEqual([]);
      release();
      await slow;
      const seen: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        const step = await store().instances.changesSince(cursor);
        seen.push(...step.changes.map(label));
        cursor = step.next;
      }
      expect(seen.sort()).toEqual(['+acme/w-1', '+acme/w-2']);
    },
  );

  it.runIf(name === 'postgres')(
    'does not pass a transaction that commits after the reader took its snapshot',
    async () => {
      await store().instances.insert(instance('w-1', 11));
      await store().instances.insert(instance('w-2', 12));
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let wrote: () => void = () => undefined;
      const written = new Promise<void>((resolve) => (wrote = resolve));
      const slow = store().transaction(async (repos) => {
        await repos.instances.setDesired(keyOf(instance('w-1', 11)), 'sleeping', 1, T1);
        wrote();
        await held;
      });
      await written;
      // A later transaction commits: the slow one is among the snapshot's in-progress ids.
      await store().instances.setDesired(keyOf(instance('w-2', 12)), 'warm', 1, T1);
      const { db } = openDatabase(url());
      try {
        // The reader's snapshot is taken before the slow writer commits and its cursor read
        // after (one statement does the same when the commit falls between its snapshot and
        // its read of pg_stat_activity; a repeatable-read transaction holds the gap open).
        const cursor = await db
          .transaction()
          .setIsolationLevel('repeatable read')
          .execute(async (trx) => {
            await sql`SELECT 1`.execute(trx);
            release();
            await slow;
            return changeCursor(trx);
          });
        // w-1's change was not visible to that snapshot: reading on from its cursor finds it.
        const after = await store().instances.changesSince(cursor);
        expect(after.changes.map(label)).toContain('+acme/w-1');
      } finally {
        await db.destroy();
      }
    },
  );
});
