import { describe, expect, it } from 'vitest';
import { baseRevision, planBaseRetention, useOf } from '../../src/core/base-retention.ts';

const base = (key: string, scope: string, revision: string) => ({ key, scope, revision });

describe('planBaseRetention', () => {
  const bases = [
    base('k-web', 'acme/web', 'r2'),
    base('k-old', 'acme/api', 'r1'),
    base('k-gone', 'acme/gone', 'r1'),
  ];
  const used = new Set([useOf('acme/web', 'r2'), useOf('acme/api', 'r2')]);

  it('keeps a used base, and drops an unused one only after the whole grace', () => {
    const first = planBaseRetention({
      bases,
      used,
      unsure: new Set(),
      unusedSince: new Map(),
      now: 1_000,
      graceMs: 500,
    });
    expect(first.collect).toEqual([]);
    expect([...first.unusedSince]).toEqual([
      ['k-old', 1_000],
      ['k-gone', 1_000],
    ]);
    const within = planBaseRetention({
      bases,
      used,
      unsure: new Set(),
      unusedSince: first.unusedSince,
      now: 1_499,
      graceMs: 500,
    });
    expect(within.collect).toEqual([]);
    const after = planBaseRetention({
      bases,
      used,
      unsure: new Set(),
      unusedSince: within.unusedSince,
      now: 1_500,
      graceMs: 500,
    });
    // The api pool runs r2 now: its r1 base is unused although the pool has instances here.
    expect(after.collect).toEqual(['k-gone', 'k-old']);
    expect(after.unusedSince.size).toBe(0);
  });

  it('starts the grace again once a base was used meanwhile; an unsure pool keeps its bases', () => {
    const since = new Map([['k-gone', 0]]);
    const usedAgain = planBaseRetention({
      bases: [base('k-gone', 'acme/gone', 'r1')],
      used: new Set([useOf('acme/gone', 'r1')]),
      unsure: new Set(),
      unusedSince: since,
      now: 10_000,
      graceMs: 500,
    });
    expect(usedAgain).toEqual({ collect: [], unusedSince: new Map() });
    const next = planBaseRetention({
      bases: [base('k-gone', 'acme/gone', 'r1')],
      used: new Set(),
      unsure: new Set(),
      unusedSince: usedAgain.unusedSince,
      now: 10_100,
      graceMs: 500,
    });
    expect(next.collect).toEqual([]);
    expect(next.unusedSince.get('k-gone')).toBe(10_100);
    const unsure = planBaseRetention({
      bases: [base('k-gone', 'acme/gone', 'r1')],
      used: new Set(),
      unsure: new Set(['acme/gone']),
      unusedSince: new Map([['k-gone', 0]]),
      now: 10_000,
      graceMs: 500,
    });
    expect(unsure.collect).toEqual([]);
    // A grace of 0 drops an unused base at the first pass.
    expect(
      planBaseRetention({
        bases: [base('k-gone', 'acme/gone', 'r1')],
        used: new Set(),
        unsure: new Set(),
        unusedSince: new Map(),
        now: 5,
        graceMs: 0,
      }).collect,
    ).toEqual(['k-gone']);
  });

  it('reads the revision from the base image digest', () => {
    expect(baseRevision('abc123 /cache/rootfs.ext4 -')).toBe('abc123');
    expect(baseRevision('dev')).toBe('dev');
  });
});
