import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptySince, planQueueShrink } from '../../../src/core/jobs/queue-shrink.ts';

const AFTER = 600_000;

const input = fc.record({
  scale: fc
    .tuple(fc.nat(6), fc.nat(6))
    .map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) })),
  counts: fc.record({ running: fc.nat(8), warm: fc.nat(3), sleeping: fc.nat(3) }),
  queueAdded: fc.nat(8),
  demand: fc.record({ queued: fc.nat(3), running: fc.nat(3) }),
  emptySinceMs: fc.option(fc.nat(2 * AFTER), { nil: undefined }),
  nowMs: fc.integer({ min: 2 * AFTER, max: 3 * AFTER }),
  afterMs: fc.constant(AFTER),
});

describe('queue shrink', () => {
  it('removes only what the queue added, never below min slots, never with work', () => {
    fc.assert(
      fc.property(input, (i) => {
        const remove = planQueueShrink(i);
        const slots = i.counts.running + i.counts.warm + i.counts.sleeping;
        expect(remove).toBeGreaterThanOrEqual(0);
        expect(remove).toBeLessThanOrEqual(i.queueAdded);
        expect(remove).toBeLessThanOrEqual(i.counts.running);
        if (remove > 0) expect(slots - remove).toBeGreaterThanOrEqual(i.scale.min);
        if (i.demand.queued + i.demand.running > 0) expect(remove).toBe(0);
        if (i.emptySinceMs === undefined || i.nowMs - i.emptySinceMs < AFTER)
          expect(remove).toBe(0);
      }),
    );
  });

  it('removes all it can once the queue stayed empty for the bound', () => {
    const base = {
      scale: { min: 1, max: 4 },
      counts: { running: 4, warm: 0, sleeping: 0 },
      queueAdded: 3,
      demand: { queued: 0, running: 0 },
      afterMs: AFTER,
    };
    expect(planQueueShrink({ ...base, emptySinceMs: 0, nowMs: AFTER - 1 })).toBe(0);
    expect(planQueueShrink({ ...base, emptySinceMs: 0, nowMs: AFTER })).toBe(3);
    const atMin = { ...base, scale: { min: 2, max: 4 }, emptySinceMs: 0, nowMs: AFTER };
    expect(planQueueShrink(atMin)).toBe(2);
    const busy = { ...base, demand: { queued: 0, running: 1 }, emptySinceMs: 0, nowMs: AFTER };
    expect(planQueueShrink(busy)).toBe(0);
  });

  it('keeps the first moment it saw the queue empty, and forgets it on work', () => {
    const empty = { queued: 0, running: 0 };
    expect(emptySince(undefined, empty, 5)).toBe(5);
    expect(emptySince(5, empty, 9)).toBe(5);
    expect(emptySince(5, { queued: 1, running: 0 }, 9)).toBeUndefined();
    expect(emptySince(5, { queued: 0, running: 1 }, 9)).toBeUndefined();
  });
});
