import { expect, it } from 'vitest';
import { T0, T1, T2 } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('generation repo', ({ store, reopen }) => {
  it('starts a node at generation 1 and moves only when the digest changes', async () => {
    expect(await store().generations.get('node-1')).toBeUndefined();
    const first = await store().generations.bump('node-1', 'aaa', T0);
    expect(first).toEqual({ nodeId: 'node-1', generation: 1, digest: 'aaa', updatedAt: T0 });
    // Same content: same generation, and the time it was issued stays.
    expect(await store().generations.bump('node-1', 'aaa', T1)).toEqual(first);
    const second = await store().generations.bump('node-1', 'bbb', T2);
    expect(second).toEqual({ nodeId: 'node-1', generation: 2, digest: 'bbb', updatedAt: T2 });
    // Going back to old content is a change too: generations never go backwards.
    expect((await store().generations.bump('node-1', 'aaa', T2)).generation).toBe(3);
    expect(await store().generations.get('node-1')).toMatchObject({ generation: 3 });
    expect(await store().generations.bump('node-2', 'aaa', T0)).toMatchObject({ generation: 1 });
  });

  it('agrees on one generation when replicas race with the same content', async () => {
    const other = await reopen();
    await store().generations.bump('node-1', 'old', T0);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? store() : other).generations.bump('node-1', 'new', T1),
      ),
    );
    expect(new Set(results.map((r) => r.generation))).toEqual(new Set([2]));
  });

  it('moves exactly once per distinct change when replicas race with different content', async () => {
    const other = await reopen();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? store() : other).generations.bump('node-1', `d${i}`, T1),
      ),
    );
    expect(new Set(results.map((r) => r.generation)).size).toBe(10);
    expect(await store().generations.get('node-1')).toMatchObject({ generation: 10 });
  });

  it('takes part in transactions', async () => {
    await store().generations.bump('node-1', 'aaa', T0);
    const failing = store().transaction(async (repos) => {
      await repos.generations.bump('node-1', 'bbb', T1);
      throw new Error('roll back');
    });
    await expect(failing).rejects.toThrow('roll back');
    expect(await store().generations.get('node-1')).toMatchObject({ generation: 1, digest: 'aaa' });
  });
});
