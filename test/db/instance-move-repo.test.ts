import { expect, it } from 'vitest';
import { advanceMove, newMove, type InstanceMove } from '../../src/core/instance-move.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T0, T1 } from './fixtures.ts';

function move(id: string, instanceId = 'w-1', overrides: Partial<InstanceMove> = {}): InstanceMove {
  return {
    ...newMove('node-a', 'node-b', false),
    id,
    tenantId: 'acme',
    poolId: 'web',
    instanceId,
    drainOf: null,
    requestedBy: 'admin',
    createdAt: T0,
    updatedAt: T0,
    version: 1,
    ...overrides,
  };
}

const parts = [
  { name: 'snapshot', bytes: 10, sha256: 'a'.repeat(64) },
  { name: 'data', bytes: 5, sha256: 'b'.repeat(64) },
];

await describeEachDatabase('instance move repo', ({ store }) => {
  it('stores a move and reads it back whole, by id, by instance and by node', async () => {
    // A drain of a warm instance: it wakes on the target and is restored to warm (0026).
    const m = move('mv-1', 'w-1', { drainOf: 'node-a', wake: true, restore: 'warm' });
    await store().instanceMoves.insert(m);
    expect(await store().instanceMoves.get('mv-1')).toEqual(m);
    expect(await store().instanceMoves.get('nope')).toBeUndefined();
    expect(await store().instanceMoves.activeFor('acme', 'web', 'w-1')).toEqual(m);
    expect(await store().instanceMoves.activeFor('acme', 'web', 'w-2')).toBeUndefined();
    expect(await store().instanceMoves.activeOn('node-a')).toEqual([m]);
    expect(await store().instanceMoves.activeOn('node-b')).toEqual([m]);
    expect(await store().instanceMoves.activeOn('node-c')).toEqual([]);
    // Neither woken nor restored: it keeps its own desired status on the target.
    const asleep = await store().instanceMoves.insert(move('mv-2', 'w-2'));
    expect(await store().instanceMoves.get('mv-2')).toEqual(asleep);
    expect(asleep).toMatchObject({ wake: false, restore: null });
  });

  it('advances a move as a compare-and-set on version, parts and received bytes included', async () => {
    const m = await store().instanceMoves.insert(move('mv-1'));
    let next = advanceMove(m, { kind: 'start' });
    next = advanceMove(next, { kind: 'exported', parts });
    next = advanceMove(next, { kind: 'received', part: 'snapshot', bytes: 7 });
    const stored = await store().instanceMoves.update({ ...m, ...next, updatedAt: T1 }, 1);
    expect(stored.version).toBe(2);
    expect(await store().instanceMoves.get('mv-1')).toEqual(stored);
    expect(stored).toMatchObject({ step: 'transferring', parts, received: { snapshot: 7 } });
    await expect(store().instanceMoves.update({ ...stored, attempts: 3 }, 1)).rejects.toMatchObject(
      {
        code: 'conflict',
      },
    );
    expect((await store().instanceMoves.get('mv-1'))?.attempts).toBe(stored.attempts);
  });

  it('allows one move under way per instance, and a new one once it finished', async () => {
    const first = await store().instanceMoves.insert(move('mv-1'));
    await expect(store().instanceMoves.insert(move('mv-2'))).rejects.toMatchObject({
      code: 'already_exists',
    });
    await expect(store().instanceMoves.insert(move('mv-1', 'w-9'))).rejects.toMatchObject({
      code: 'already_exists',
    });
    await store().instanceMoves.update(
      { ...first, ...advanceMove(first, { kind: 'failed', reason: 'target gone' }) },
      1,
    );
    expect(await store().instanceMoves.activeFor('acme', 'web', 'w-1')).toBeUndefined();
    expect(await store().instanceMoves.activeOn('node-a')).toEqual([]);
    await store().instanceMoves.insert(move('mv-2'));
    expect((await store().instanceMoves.activeFor('acme', 'web', 'w-1'))?.id).toBe('mv-2');
  });

  it('rolls back with the transaction', async () => {
    await expect(
      store().transaction(async (repos) => {
        await repos.instanceMoves.insert(move('mv-1'));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await store().instanceMoves.get('mv-1')).toBeUndefined();
  });
});
