import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/errors.ts';
import { openDatabase, openStore } from '../../src/db/open-store.ts';
import type { Repos, Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, fixedClock, ok, tenantWithWeb } from '../coordinator/api-client-harness.ts';

/**
 * A scale's first round trip on Postgres: the tenant's lock and the pools with the members
 * written together (`pools.lockedWithMembers`, docs/scale.md "The tenant's lock and the pools'
 * read in one round trip"). The read runs only once the lock is held, so it sees what the
 * lock's previous holder committed; a lock that fails fails with its own error.
 */

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A transaction holding acme's lock after `work`, until release(). */
function holder(store: Store, work: (repos: Repos) => Promise<void>) {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding = () => {};
  const held = new Promise<void>((resolve) => (holding = resolve));
  const done = store.transaction(async (repos) => {
    await repos.tenants.lock('acme');
    await work(repos);
    holding();
    await released;
  });
  return { held, release, done };
}

/** `url` whose sessions give up waiting for a lock after 150 ms (55P03). */
function withLockTimeout(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c lock_timeout=150')}`;
}

const auditCount = async (store: Store) => (await store.audit.list({ limit: 1000 })).length;

await describeEachDatabase('the tenant lock with the pools read', (db) => {
  const postgres = () => db.name === 'postgres';

  it('answers the locked tenant with what withMembers answers, or no tenant', async () => {
    const api = await apiOver(db.store());
    await tenantWithWeb(api, 'acme', 3);
    const store = db.store();
    const read = await store.transaction(async (repos) => ({
      locked: await repos.pools.lockedWithMembers('acme', 'web'),
      other: await repos.pools.lockedWithMembers('acme', 'nothing'),
      nobody: await repos.pools.lockedWithMembers('nobody', 'web'),
    }));
    const expected = await store.pools.withMembers('acme', 'web');
    expect(read.locked).toEqual({ tenant: await store.tenants.get('acme'), ...expected });
    expect(read.locked.members).toHaveLength(3);
    expect(read.other.members).toBeUndefined();
    expect(read.nobody).toEqual({ tenant: undefined, pools: [], members: undefined });
  });

  it.skipIf(!postgres())(
    "reads the pools and members the lock's previous holder committed",
    async () => {
      const store = db.store();
      const api = await apiOver(store);
      await tenantWithWeb(api, 'acme', 3);
      const other = await db.reopen();
      const at = fixedClock.now().toISOString();
      const first = holder(store, async (repos) => {
        const pool = (await repos.pools.get('acme', 'web'))!;
        const counts = { running: 2, warm: 1, sleeping: 0 };
        await repos.pools.update('acme', 'web', { counts }, pool.version, at);
        const [one] = await repos.instances.list({ tenantId: 'acme', poolId: 'web' });
        const key = { tenantId: 'acme', poolId: 'web', instanceId: one!.id };
        await repos.instances.setDesired(key, 'warm', one!.version, at);
      });
      await first.held;
      let answered = false;
      const waiter = other
        .transaction((repos) => repos.pools.lockedWithMembers('acme', 'web'))
        .then((read) => {
          answered = true;
          return read;
        });
      await pause(200);
      expect(answered).toBe(false);
      first.release();
      await first.done;
      const read = await waiter;
      const pool = read.pools.find((p) => p.id === 'web')!;
      expect(pool.counts).toEqual({ running: 2, warm: 1, sleeping: 0 });
      expect(pool).toEqual(await store.pools.get('acme', 'web'));
      expect(read.members).toEqual(
        await store.pools.withMembers('acme', 'web').then((r) => r.members),
      );
      expect(read.members!.filter((m) => m.desiredStatus === 'warm')).toHaveLength(1);
    },
  );

  it.skipIf(!postgres())(
    "fails with the lock's own error when the lock times out, and writes nothing",
    async () => {
      const store = db.store();
      const api = await apiOver(store);
      await tenantWithWeb(api, 'acme', 3);
      const impatient = await openStore(withLockTimeout(db.url()));
      const first = holder(store, () => Promise.resolve());
      try {
        await first.held;
        const before = await auditCount(store);
        const append = (repos: Repos) =>
          repos.audit.append({
            tenantId: 'acme',
            at: fixedClock.now().toISOString(),
            actor: 'admin',
            action: 'pool.scale',
            target: 'acme/web',
            detail: {},
          });
        // The lock alone, as a scale took it before: its error is the one to keep.
        const alone = await impatient
          .transaction((repos) => repos.tenants.lock('acme'))
          .catch((error: unknown) => error);
        const together = await impatient
          .transaction(async (repos) => {
            await repos.pools.lockedWithMembers('acme', 'web');
            await append(repos);
          })
          .catch((error: unknown) => error);
        expect(together).toBeInstanceOf(Error);
        expect((together as { code?: string }).code).toBe('55P03');
        expect(together).toMatchObject({
          message: (alone as Error).message,
          code: (alone as { code?: string }).code,
        });
        // Over the API, the scale is refused as the lock's error is, and writes nothing.
        const overApi = await apiOver(impatient);
        const answer = await overApi.call('POST', '/tenants/acme/pools/web/scale', {
          body: { running: 1, warm: 2 },
        });
        expect(answer.status).not.toBe(200);
        first.release();
        await first.done;
        expect(await auditCount(store)).toBe(before);
        expect((await store.pools.get('acme', 'web'))!.counts.warm).toBe(0);
        // The impatient store's connections are clean: its next scale goes through.
        await ok(overApi, 'POST', '/tenants/acme/pools/web/scale', { running: 2, warm: 1 });
      } finally {
        first.release();
        await first.done.catch(() => undefined);
        await impatient.close();
      }
    },
  );

  it.skipIf(!postgres())(
    'fails with StoreUnavailableError when the waiting session is terminated, and writes nothing',
    async () => {
      const store = db.store();
      const api = await apiOver(store);
      await tenantWithWeb(api, 'acme', 3);
      const other = await db.reopen();
      const { db: admin } = openDatabase(db.url());
      const first = holder(store, () => Promise.resolve());
      try {
        await first.held;
        const before = await auditCount(store);
        const waiting = other
          .transaction(async (repos) => {
            await repos.pools.lockedWithMembers('acme', 'web');
            await repos.audit.append({
              tenantId: 'acme',
              at: fixedClock.now().toISOString(),
              actor: 'admin',
              action: 'pool.scale',
              target: 'acme/web',
              detail: {},
            });
          })
          .catch((error: unknown) => error);
        // The waiter's backend: the one waiting for a lock on a tenant's row.
        let pid: number | undefined;
        for (let k = 0; k < 100 && pid === undefined; k += 1) {
          const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity
            where wait_event_type = 'Lock' and query like '%"tenants"%for update%'`.execute(admin);
          pid = rows[0]?.pid;
          if (pid === undefined) await pause(20);
        }
        expect(pid).toBeDefined();
        await sql`select pg_terminate_backend(${pid})`.execute(admin);
        expect(await waiting).toBeInstanceOf(StoreUnavailableError);
        first.release();
        await first.done;
        expect(await auditCount(store)).toBe(before);
      } finally {
        first.release();
        await first.done.catch(() => undefined);
        await admin.destroy();
      }
    },
  );
});
