import { expect, it } from 'vitest';
import { SharedMarks } from '../../src/coordinator/desired/shared-marks.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

function counting(values: Array<Map<string, number> | Error>) {
  let reads = 0;
  return {
    reads: () => reads,
    generations: {
      allMarks: () => {
        const next = values[Math.min(reads, values.length - 1)];
        reads += 1;
        return next instanceof Error ? Promise.reject(next) : Promise.resolve(next ?? new Map());
      },
    },
  };
}

it('reads the marks once per window for every caller, and sums the scopes asked', async () => {
  let now = 0;
  const store = counting([
    new Map([
      ['fleet', 1],
      ['node:a', 2],
      ['tenant:t', 4],
    ]),
    new Map([
      ['fleet', 1],
      ['node:a', 3],
      ['tenant:t', 4],
    ]),
  ]);
  const marks = new SharedMarks(store.generations, 250, () => now);
  const sums = await Promise.all(
    Array.from({ length: 100 }, () => marks.sum(['fleet', 'node:a', 'tenant:t'])),
  );
  expect(new Set(sums)).toEqual(new Set([7]));
  expect(await marks.sum(['node:b', 'tenant:t'])).toBe(4);
  expect(store.reads()).toBe(1);
  now = 249;
  expect(await marks.sum(['node:a'])).toBe(2);
  expect(store.reads()).toBe(1);
  now = 250;
  expect(await marks.sum(['node:a'])).toBe(3);
  expect(store.reads()).toBe(2);
});

it('does not keep a failed read', async () => {
  const store = counting([new Error('store unavailable'), new Map([['fleet', 5]])]);
  const marks = new SharedMarks(store.generations, 250, () => 0);
  await expect(marks.sum(['fleet'])).rejects.toThrow('store unavailable');
  expect(await marks.sum(['fleet'])).toBe(5);
  expect(store.reads()).toBe(2);
});

await describeEachDatabase('document marks, all at once', (db) => {
  it('answers every scope with the same values the sums use', async () => {
    const { generations } = db.store();
    expect(await generations.allMarks()).toEqual(new Map());
    await generations.markChanged(['fleet', 'node:a']);
    await generations.markChanged(['node:a', 'tenant:t']);
    const all = await generations.allMarks();
    expect(all).toEqual(
      new Map([
        ['fleet', 1],
        ['node:a', 2],
        ['tenant:t', 1],
      ]),
    );
    const sum = await generations.marks(['fleet', 'node:a', 'tenant:t']);
    expect(sum).toBe([...all.values()].reduce((a, b) => a + b, 0));
  });
});
