import { beforeEach, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../src/core/errors.ts';
import type { Instance, Pool } from '../../src/core/model.ts';
import { withRequestId } from '../../src/drivers/request-context.ts';
import type { MemberWrite, Repos, Store } from '../../src/ports/store.ts';
import { T1, T2, instance, insertTwoTenants, keyOf } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

/**
 * A scale's writes together (docs/scale.md, "A scale's writes in one statement"): the pool's
 * compare-and-set update and its members', written as the statements one by one wrote them,
 * with the same errors in the same order, and no member written when the pool did not match.
 */

const counts = { running: 1, warm: 2, sleeping: 0 };
const patch = { counts, queueAdded: 0 };

/** acme/workers' members: placed, one held asleep by pressure, one the idle policy holds. */
const members = () => [
  instance('w-1', 11, { nodeId: 'node-1', status: 'running' }),
  instance('w-2', 12, { nodeId: 'node-1', desiredStatus: 'sleeping', pressureSleptAt: T1 }),
  instance('w-3', 13, { nodeId: 'node-2', desiredStatus: 'warm', idleSlot: 'warm' }),
  instance('w-4', 14, { nodeId: 'node-2', desiredStatus: 'sleeping', sleepForced: true }),
  instance('w-5', 15, { nodeId: 'node-1', status: 'running' }),
];

/** w-1 and w-4 to warm (w-4's forced sleep ends), w-2 raised to running, w-3 held in running. */
const writes: MemberWrite[] = [
  { id: 'w-4', version: 1, desiredStatus: 'warm' },
  { id: 'w-1', version: 1, desiredStatus: 'warm' },
  { id: 'w-3', version: 1, desiredStatus: 'warm', idleSlot: 'running' },
  { id: 'w-2', version: 1, desiredStatus: 'running' },
];

/** Rolls `fn`'s transaction back and answers what it saw. */
async function rolledBack<T>(store: Store, fn: (repos: Repos) => Promise<T>): Promise<T> {
  let seen: T | undefined;
  const rollback = new Error('rollback');
  await expect(
    store.transaction(async (repos) => {
      seen = await fn(repos);
      throw rollback;
    }),
  ).rejects.toBe(rollback);
  return seen as T;
}

/** The pool's and its members' rows as stored, with the request ids of node-1 and node-2. */
async function stored(repos: Repos) {
  return {
    pool: await repos.pools.get('acme', 'workers'),
    members: await repos.instances.list({ tenantId: 'acme', poolId: 'workers' }),
    requestIds: [
      ...(await repos.instances.lastRequestIds('node-1')),
      ...(await repos.instances.lastRequestIds('node-2')),
    ].sort(),
  };
}

/** The same writes, one statement each (the path before `updateWithMembers`). */
async function oneByOne(repos: Repos, pool: Pool, list: readonly MemberWrite[]) {
  const written = await repos.pools.update('acme', 'workers', patch, pool.version, T2);
  const changed: Instance[] = [];
  for (const w of list) {
    const key = { tenantId: 'acme', poolId: 'workers', instanceId: w.id };
    changed.push(
      w.idleSlot !== undefined
        ? await repos.instances.update(key, { idleSlot: w.idleSlot }, w.version, T2)
        : await repos.instances.setDesired(key, w.desiredStatus, w.version, T2),
    );
  }
  return { pool: written, members: changed };
}

await describeEachDatabase('pool members written with the pool', ({ name, store }) => {
  beforeEach(async () => {
    await insertTwoTenants(store());
    for (const i of members()) await store().instances.insert(i);
    // Another pool's and tenant's instance of the same id: never written.
    await store().instances.insert(instance('w-1', 21, { poolId: 'gateways' }));
  });

  const scaled = (pool: Pool, expectedVersion = pool.version) => ({
    tenantId: 'acme',
    id: 'workers',
    patch,
    expectedVersion,
  });

  it('writes the pool and its members as the statements one by one do, in order', async () => {
    const pool = (await store().pools.get('acme', 'workers'))!;
    const run = (fn: (repos: Repos) => Promise<unknown>) =>
      rolledBack(store(), async (repos) =>
        withRequestId('req-7', async () => ({
          answer: await fn(repos),
          after: await stored(repos),
        })),
      );
    const together = await run((repos) => repos.pools.updateWithMembers(scaled(pool), writes, T2));
    const apart = await run((repos) => oneByOne(repos, pool, writes));
    expect(together).toEqual(apart);
    const answer = together.answer as { pool: Pool; members: Instance[] };
    expect(answer.pool).toMatchObject({ counts, version: pool.version + 1, updatedAt: T2 });
    expect(answer.members.map((m) => [m.id, m.desiredStatus, m.idleSlot, m.version])).toEqual([
      ['w-4', 'warm', null, 2],
      ['w-1', 'warm', null, 2],
      ['w-3', 'warm', 'running', 2],
      ['w-2', 'running', null, 2],
    ]);
    expect(answer.members.find((m) => m.id === 'w-2')?.pressureSleptAt).toBeNull();
    expect(answer.members.find((m) => m.id === 'w-4')?.sleepForced).toBeUndefined();
    // A new desired status names the request; a slot alone does not (w-3 keeps none).
    expect(together.after.requestIds.map(([k]) => k)).toEqual([
      'acme/workers/w-1',
      'acme/workers/w-2',
      'acme/workers/w-4',
    ]);
    // No members: the pool alone.
    const alone = await rolledBack(store(), (repos) =>
      repos.pools.updateWithMembers(scaled(pool), [], T2),
    );
    expect(alone).toEqual({ pool: answer.pool, members: [] });
  });

  it('tries the lock it is given in the write, held to its commit, and says whether it is held', async () => {
    const pool = (await store().pools.get('acme', 'workers'))!;
    const LOCK = 'scale-write-test';
    const otherTries = () => store().transaction((repos) => repos.locks.tryAcquire(LOCK));
    const plain = await rolledBack(store(), (repos) =>
      repos.pools.updateWithMembers(scaled(pool), writes, T2),
    );
    expect('locked' in plain).toBe(false);
    const tried = await rolledBack(store(), async (repos) => ({
      written: await repos.pools.updateWithMembers({ ...scaled(pool), tryLock: LOCK }, writes, T2),
      // SQLite's transaction excludes the other's; on Postgres the lock is held till the end.
      other: name === 'postgres' ? await otherTries() : false,
    }));
    expect(tried.written.locked).toBe(true);
    expect(tried.other).toBe(false);
    expect({ ...tried.written, locked: undefined }).toEqual({ ...plain, locked: undefined });
    expect(await otherTries()).toBe(true);
    if (name !== 'postgres') return;
    // Another transaction holds it: not held, the writes as before.
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let taken = () => {};
    const isTaken = new Promise<void>((resolve) => (taken = resolve));
    const holding = store().transaction(async (repos) => {
      await repos.locks.acquire(LOCK);
      taken();
      await released;
    });
    try {
      await isTaken;
      const busy = await rolledBack(store(), (repos) =>
        repos.pools.updateWithMembers({ ...scaled(pool), tryLock: LOCK }, writes, T2),
      );
      expect(busy.locked).toBe(false);
      expect(busy.members).toHaveLength(writes.length);
    } finally {
      release();
      await holding;
    }
  });

  it("refuses a pool that moved, writing no member, and the first member's conflict in order", async () => {
    const pool = (await store().pools.get('acme', 'workers'))!;
    const before = await stored(store());
    // The pool moved: its conflict, and no member written in the transaction.
    const moved = await rolledBack(store(), async (repos) => {
      const error = await repos.pools
        .updateWithMembers(scaled(pool, pool.version - 1), writes, T2)
        .catch((e: unknown) => e);
      return { error, after: await stored(repos) };
    });
    expect(moved.error).toBeInstanceOf(ConflictError);
    expect(String(moved.error)).toMatch(
      `pool acme/workers changed concurrently: expected version ${pool.version - 1}, found ${pool.version}`,
    );
    expect(moved.after).toEqual(before);
    // Two members moved: the first in the writes' order is the one named.
    await store().instances.setDesired(keyOf(members()[2]!), 'running', 1, T1);
    await store().instances.setDesired(keyOf(members()[1]!), 'warm', 1, T1);
    const stale = await store()
      .transaction((repos) => repos.pools.updateWithMembers(scaled(pool), writes, T2))
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect(String(stale)).toMatch(
      'instance acme/workers/w-3 changed concurrently: expected version 1, found 2',
    );
    // A member or a pool that is not there.
    const gone = [...writes, { id: 'w-9', version: 1, desiredStatus: 'warm' as const }];
    const fresh = gone.map((w) => (['w-2', 'w-3'].includes(w.id) ? { ...w, version: 2 } : w));
    const missing = await store()
      .transaction((repos) => repos.pools.updateWithMembers(scaled(pool), fresh, T2))
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(String(missing)).toMatch('acme/workers/w-9');
    const nopool = await store()
      .transaction((repos) =>
        repos.pools.updateWithMembers({ ...scaled(pool), id: 'nothing' }, [], T2),
      )
      .catch((e: unknown) => e);
    expect(nopool).toBeInstanceOf(NotFoundError);
    // Nothing of the failed transactions stayed.
    expect((await store().pools.get('acme', 'workers'))?.version).toBe(pool.version);
    expect(
      (await store().instances.list({ tenantId: 'acme' })).filter((i) => i.updatedAt === T2),
    ).toEqual([]);
  });
});
