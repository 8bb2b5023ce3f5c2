import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { planPoolGc, type GcInstance } from '../../src/core/pool-gc.ts';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();
const inst = (id: string, over: Partial<GcInstance> = {}): GcInstance => ({
  id,
  status: 'stopped',
  desiredStatus: 'stopped',
  statusSince: ago(60),
  updatedAt: ago(60),
  revision: 'r1',
  version: 3,
  ...over,
});

describe('planPoolGc', () => {
  const pool = [
    inst('a', { statusSince: ago(7200) }),
    inst('b', { statusSince: null, updatedAt: ago(3000) }),
    inst('c', { statusSince: ago(10) }),
    inst('d', { statusSince: ago(10) }),
    inst('run', { status: 'running', desiredStatus: 'running', revision: 'r2' }),
    inst('gone', { desiredStatus: 'destroyed', statusSince: ago(99_999) }),
  ];

  it('keeps the most recently stopped, ties by id, and never counts live or leaving ones', () => {
    const plan = planPoolGc(pool, { retention: { keep: 2 }, nowMs: NOW, poolRevision: 'r2' });
    expect(plan.keep.map((s) => s.id)).toEqual(['c', 'd']);
    expect(plan.destroy.map((s) => s.id)).toEqual(['b', 'a']);
    expect(plan.destroy[0]?.since).toBe(ago(3000));
    expect(plan.revisions.inUse).toEqual([
      { revision: 'r2', instances: 1, current: true },
      { revision: 'r1', instances: 2, current: false },
    ]);
  });

  it('by age: destroys what stopped before the cut-off; input order does not matter', () => {
    const plan = planPoolGc([...pool].reverse(), {
      retention: { olderThanSecs: 3600 },
      nowMs: NOW,
      poolRevision: null,
    });
    expect(plan.destroy.map((s) => s.id)).toEqual(['a']);
    expect(plan.keep.map((s) => s.id)).toEqual(['c', 'd', 'b']);
  });

  it('refuses a retention that is not a whole number', () => {
    const bad = () => planPoolGc(pool, { retention: { keep: -1 }, nowMs: NOW, poolRevision: null });
    expect(bad).toThrow(ValidationError);
  });
});
