import { describe, expect, it } from 'vitest';
import { previousOf, rollbackTarget } from '../../src/core/rollout-back.ts';
import type { Rollout, RolloutState } from '../../src/core/rollout-plan.ts';

function rollout(state: RolloutState, from: string, to: string, previous: string | null = null) {
  const at = '2026-12-03T00:00:00.000Z';
  const r: Rollout = {
    tenantId: 'acme',
    poolId: 'web',
    state,
    from,
    to,
    previous,
    canary: 1,
    maxUnavailable: 1,
    includeSleeping: false,
    readyTimeoutMs: 300_000,
    canariesDone: true,
    progress: { total: 2, ready: 2, replacing: 0 },
    reason: null,
    startedBy: 'admin:admin',
    startedAt: at,
    updatedAt: at,
    finishedAt: at,
    version: 3,
  };
  return r;
}

describe('the revision before a rollout', () => {
  it('is the from of the finished rollout that brought the pool there', () => {
    expect(previousOf(rollout('done', 'r1', 'r2'), 'r2')).toBe('r1');
    // The pool was moved since (pool update): the record says nothing of where it is now.
    expect(previousOf(rollout('done', 'r1', 'r2'), 'r9')).toBeNull();
    expect(previousOf(rollout('done', 'r2', 'r2'), 'r2')).toBeNull();
    expect(previousOf(undefined, 'r1')).toBeNull();
  });

  it('is carried through a rollout that turned back to where the pool is', () => {
    expect(previousOf(rollout('rolled-back', 'r2', 'r3', 'r1'), 'r2')).toBe('r1');
    expect(previousOf(rollout('failed', 'r2', 'r3', 'r1'), 'r2')).toBe('r1');
    expect(previousOf(rollout('rolled-back', 'r2', 'r3', 'r1'), 'r3')).toBeNull();
  });
});

describe('where pool rollback goes', () => {
  it('after a finished rollout: back to its from, remembering what came before', () => {
    expect(rollbackTarget(rollout('done', 'r1', 'r2', 'r0'), 'r2')).toEqual({
      kind: 'back',
      from: 'r1',
      to: 'r2',
      previous: 'r0',
    });
  });

  it('after one that turned back by itself: one step further, to the revision before', () => {
    expect(rollbackTarget(rollout('rolled-back', 'r2', 'r3', 'r1'), 'r2')).toEqual({
      kind: 'back',
      from: 'r1',
      to: 'r2',
      previous: null,
    });
  });

  it('nowhere when the history says nothing', () => {
    expect(rollbackTarget(undefined, 'r1')).toEqual({ kind: 'none' });
    expect(rollbackTarget(rollout('rolled-back', 'r1', 'r2'), 'r1')).toEqual({ kind: 'none' });
    expect(rollbackTarget(rollout('done', 'r1', 'r2'), 'r5')).toEqual({ kind: 'none' });
    expect(rollbackTarget(rollout('rolled-back', 'r1', 'r2', 'r1'), 'r1')).toEqual({
      kind: 'none',
    });
  });
});
