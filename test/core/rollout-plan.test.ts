/**
 * The rollout planner. Examples pin the vocabulary; properties drive random pools through a
 * simulated fleet (each replaced instance becomes ready, or fails, after random ticks) and
 * check the invariants after every step.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DesiredStatus } from '../../src/core/model.ts';
import {
  healthOf,
  inScope,
  nextState,
  planRollout,
  progressOf,
  targetOf,
  type RolloutInstance,
  type RolloutSettings,
  type RolloutStep,
} from '../../src/core/rollout-plan.ts';

const T0 = Date.parse('2026-12-03T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

const settings = (over: Partial<RolloutSettings> = {}): RolloutSettings => ({
  target: 'r2',
  canary: 1,
  maxUnavailable: 1,
  readyTimeoutMs: 60_000,
  maxRestarts: 3,
  stableMs: 10_000,
  includeSleeping: false,
  ...over,
});

const onOld = (id: string, desiredStatus: DesiredStatus = 'running'): RolloutInstance => ({
  id,
  desiredStatus,
  status: desiredStatus === 'running' ? 'running' : desiredStatus === 'warm' ? 'warm' : 'sleeping',
  placed: true,
  revision: 'r1',
  pinnedRevision: null,
  pinnedAt: null,
  statusSince: iso(T0 - 100_000),
  sample: { status: 'running', revision: 'r1', workload: { state: 'running', restarts: 0 } },
});

const readyOnTarget = (i: RolloutInstance, at: number): RolloutInstance => ({
  ...i,
  status:
    i.desiredStatus === 'running' || i.desiredStatus === 'warm' || i.desiredStatus === 'sleeping'
      ? i.desiredStatus
      : i.status,
  revision: 'r2',
  statusSince: iso(at),
  sample: { status: 'running', revision: 'r2', workload: { state: 'running', restarts: 0 } },
});

describe('planRollout: examples', () => {
  it('replaces the canary first, waits for it, then the rest in batches, then is done', () => {
    const s = settings({ canary: 1, maxUnavailable: 2 });
    let pool = ['a', 'b', 'c', 'd'].map((id) => onOld(id));
    expect(planRollout(pool, s, T0, false)).toEqual({ kind: 'replace', ids: ['a'], canary: true });
    pool = pool.map((i) => (i.id === 'a' ? { ...i, pinnedRevision: 'r2', pinnedAt: iso(T0) } : i));
    expect(planRollout(pool, s, T0 + 1000, false)).toEqual({
      kind: 'wait',
      pending: ['a'],
      canary: true,
    });
    pool = pool.map((i) => (i.id === 'a' ? readyOnTarget(i, T0 + 2000) : i));
    expect(planRollout(pool, s, T0 + 3000, false)).toEqual({
      kind: 'replace',
      ids: ['b', 'c'],
      canary: false,
    });
    pool = pool.map((i) => ({ ...readyOnTarget(i, T0 + 4000), pinnedRevision: 'r2' }));
    expect(planRollout(pool, s, T0 + 5000, true)).toEqual({ kind: 'done' });
  });

  it('a canary whose workload crash-loops, or that is never ready, fails the rollout', () => {
    const s = settings();
    const pinned = { ...onOld('a'), pinnedRevision: 'r2', pinnedAt: iso(T0) };
    const looping = {
      ...pinned,
      revision: 'r2',
      sample: {
        status: 'running' as const,
        revision: 'r2',
        workload: { state: 'backoff', restarts: 3 },
      },
    };
    expect(planRollout([looping, onOld('b')], s, T0 + 1000, false)).toMatchObject({
      kind: 'failed',
      id: 'a',
      canary: true,
    });
    expect(planRollout([pinned, onOld('b')], s, T0 + 61_000, false)).toMatchObject({
      kind: 'failed',
      reason: 'not ready on the new revision within 60s',
    });
  });

  it('a workload is ready once its run lasted the stable time, not at a moment between exits', () => {
    const s = settings();
    const run = (state: string, restarts: number, runningForMs?: number): RolloutInstance => ({
      ...onOld('a'),
      revision: 'r2',
      pinnedRevision: 'r2',
      pinnedAt: iso(T0),
      sample: {
        status: 'running',
        revision: 'r2',
        workload: { state, restarts, ...(runningForMs !== undefined ? { runningForMs } : {}) },
      },
    });
    // An image whose process exits at once, sampled in the moment it runs: not ready yet.
    expect(healthOf(run('running', 1, 40), s, T0 + 3000)).toEqual({ kind: 'pending' });
    expect(planRollout([run('running', 1, 40), onOld('b')], s, T0 + 3000, false)).toEqual({
      kind: 'wait',
      pending: ['a'],
      canary: true,
    });
    expect(healthOf(run('running', 0, 9_999), s, T0 + 12_000)).toEqual({ kind: 'pending' });
    expect(healthOf(run('running', 0, 10_000), s, T0 + 12_000)).toEqual({ kind: 'ready' });
    // A node that does not say how long the run lasted is taken at its word.
    expect(healthOf(run('running', 0), s, T0 + 1000)).toEqual({ kind: 'ready' });
    expect(healthOf(run('backoff', 1, 60_000), s, T0 + 1000)).toEqual({ kind: 'pending' });
  });

  it('a failure from before the pin is not the new revision’s', () => {
    const old = { ...onOld('a'), status: 'failed' as const, statusSince: iso(T0 - 5000) };
    const pinned = { ...old, pinnedRevision: 'r2', pinnedAt: iso(T0) };
    expect(healthOf(pinned, settings(), T0 + 1000)).toEqual({ kind: 'pending' });
    const failedAfter = { ...pinned, statusSince: iso(T0 + 500) };
    expect(healthOf(failedAfter, settings(), T0 + 1000).kind).toBe('failed');
  });

  it('a running instance is ready only once a sample of the new revision shows its workload up', () => {
    const booted = { ...onOld('a'), revision: 'r2', pinnedRevision: 'r2', pinnedAt: iso(T0) };
    expect(healthOf(booted, settings(), T0).kind).toBe('pending');
    const sampled = { ...booted, sample: { status: 'running' as const, revision: 'r2' } };
    expect(healthOf(sampled, settings(), T0).kind).toBe('ready');
    const starting = {
      ...booted,
      sample: {
        status: 'running' as const,
        revision: 'r2',
        workload: { state: 'starting', restarts: 0 },
      },
    };
    expect(healthOf(starting, settings(), T0).kind).toBe('pending');
  });

  it('sleeping instances are covered only when allowed; unplaced ones never', () => {
    expect(inScope(onOld('a', 'sleeping'), settings())).toBe(false);
    expect(inScope(onOld('a', 'sleeping'), settings({ includeSleeping: true }))).toBe(true);
    expect(inScope({ ...onOld('a'), placed: false }, settings())).toBe(false);
    expect(inScope(onOld('a', 'warm'), settings())).toBe(true);
  });

  it('a pool already on the target is done at once; an empty pool too', () => {
    expect(planRollout([readyOnTarget(onOld('a'), T0)], settings(), T0, false)).toEqual({
      kind: 'done',
    });
    expect(planRollout([], settings(), T0, false)).toEqual({ kind: 'done' });
  });

  it('state: forwards failure rolls back to `from`; failing back halts', () => {
    const failed: RolloutStep = { kind: 'failed', id: 'a', reason: 'x', canary: true };
    expect(nextState('running', failed)).toBe('rolling-back');
    expect(targetOf({ state: 'rolling-back', from: 'r1', to: 'r2' })).toBe('r1');
    expect(nextState('rolling-back', failed)).toBe('failed');
    expect(nextState('rolling-back', { kind: 'done' })).toBe('rolled-back');
    expect(nextState('running', { kind: 'done' })).toBe('done');
    expect(nextState('done', failed)).toBe('done');
  });
});

/** A random pool and how each instance behaves once replaced. */
const scenario = fc.record({
  size: fc.integer({ min: 0, max: 9 }),
  canary: fc.integer({ min: 0, max: 4 }),
  maxUnavailable: fc.integer({ min: 1, max: 4 }),
  statuses: fc.array(fc.constantFrom<DesiredStatus>('running', 'warm', 'sleeping', 'stopped'), {
    minLength: 9,
    maxLength: 9,
  }),
  /** Ticks each instance takes to be ready once pinned. */
  delays: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 9, maxLength: 9 }),
  broken: fc.boolean(),
  includeSleeping: fc.boolean(),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

interface Run {
  steps: RolloutStep[];
  pool: RolloutInstance[];
  /** Pinned but not ready, after each step. */
  unavailable: number[];
  /** How many were pinned when the canaries were all ready (Infinity: never). */
  pinnedAtCanariesReady: number;
}

const TICK = 1000;

/** Drives the planner against a fleet where replaced instances come up after their delay. */
function simulate(sc: Scenario): Run {
  const s = settings({
    canary: sc.canary,
    maxUnavailable: sc.maxUnavailable,
    includeSleeping: sc.includeSleeping,
    readyTimeoutMs: 10 * TICK,
  });
  let pool = Array.from({ length: sc.size }, (_, n) => onOld(`i${n}`, sc.statuses[n]));
  const pinnedTick = new Map<string, number>();
  const run: Run = { steps: [], pool, unavailable: [], pinnedAtCanariesReady: Infinity };
  let canariesDone = false;
  for (let tick = 0; tick < 200; tick += 1) {
    const now = T0 + tick * TICK;
    pool = pool.map((i, n) => advance(i, pinnedTick.get(i.id), tick, sc.delays[n] ?? 0, sc.broken));
    const step = planRollout(pool, s, now, canariesDone);
    run.steps.push(step);
    if (step.kind !== 'done' && !step.canary && !canariesDone) {
      canariesDone = true;
      run.pinnedAtCanariesReady = pool.filter((i) => i.pinnedRevision === 'r2').length;
    }
    if (step.kind === 'replace') {
      for (const id of step.ids) pinnedTick.set(id, tick);
      pool = pool.map((i) =>
        step.ids.includes(i.id) ? { ...i, pinnedRevision: 'r2', pinnedAt: iso(now) } : i,
      );
    }
    run.unavailable.push(
      pool.filter((i) => i.pinnedRevision === 'r2' && healthOf(i, s, now).kind !== 'ready').length,
    );
    if (step.kind === 'done' || step.kind === 'failed') break;
  }
  run.pool = pool;
  return run;
}

/** One tick of the fleet: a pinned instance restarts and, after its delay, is ready (or not). */
function advance(
  i: RolloutInstance,
  pinned: number | undefined,
  tick: number,
  delay: number,
  broken: boolean,
): RolloutInstance {
  if (pinned === undefined || tick < pinned + 1) return i;
  if (tick < pinned + 1 + delay) return { ...i, status: 'ready', revision: 'r1' };
  const up = readyOnTarget(i, T0 + tick * TICK);
  if (!broken) return up;
  return {
    ...up,
    sample: { status: 'running', revision: 'r2', workload: { state: 'backoff', restarts: 5 } },
  };
}

describe('planRollout: properties', () => {
  it('never more than max-unavailable replaced instances are not ready at once', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const run = simulate(sc);
        for (const n of run.unavailable) expect(n).toBeLessThanOrEqual(sc.maxUnavailable);
      }),
    );
  });

  it('canaries first: nothing beyond the canaries is replaced before they are all ready', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const run = simulate(sc);
        let pinned = 0;
        for (const step of run.steps) {
          if (step.kind !== 'replace') continue;
          if (step.canary) {
            pinned += step.ids.length;
            expect(pinned).toBeLessThanOrEqual(sc.canary);
          }
        }
        if (run.pinnedAtCanariesReady !== Infinity) {
          expect(run.pinnedAtCanariesReady).toBeLessThanOrEqual(Math.max(sc.canary, 0));
        }
      }),
    );
  });

  it('done only when every covered instance reports the target ready; a good target always ends done', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const run = simulate(sc);
        const last = run.steps.at(-1);
        const s = settings({ includeSleeping: sc.includeSleeping, canary: sc.canary });
        if (last?.kind === 'done') {
          const now = T0 + (run.steps.length - 1) * TICK;
          const covered = run.pool.filter((i) => inScope(i, s));
          for (const i of covered) {
            expect(i.revision).toBe('r2');
            expect(healthOf(i, s, now).kind).toBe('ready');
          }
          expect(progressOf(run.pool, s, now)).toMatchObject({
            ready: covered.length,
            replacing: 0,
          });
        }
        const covers = run.pool.some((i) => inScope(i, s));
        if (!sc.broken || !covers) expect(last?.kind).toBe('done');
      }),
    );
  });

  it('a broken target fails on a canary (when there are canaries) and turns the rollout back', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const run = simulate({ ...sc, broken: true });
        const last = run.steps.at(-1);
        const s = settings({ includeSleeping: sc.includeSleeping });
        if (!run.pool.some((i) => inScope(i, s))) return;
        expect(last?.kind).toBe('failed');
        if (last?.kind !== 'failed') return;
        expect(last.canary).toBe(sc.canary > 0);
        expect(nextState('running', last)).toBe('rolling-back');
        const pinned = run.pool.filter((i) => i.pinnedRevision === 'r2').length;
        if (sc.canary > 0) expect(pinned).toBeLessThanOrEqual(sc.canary);
      }),
    );
  });
});
