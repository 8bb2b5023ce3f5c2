import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { advanceFollow, startFollow } from '../../src/core/event-follow.ts';

describe('following the audit log', () => {
  it('sends an id that commits after a higher one, once, and lets the mark trail by settleMs', () => {
    let state = startFollow(5);
    let step = advanceFollow(state, [6, 8], 1_000, 5_000);
    expect(step.send).toEqual([6, 8]);
    state = step.next;
    expect(state.lowWater).toBe(5);
    // 7 commits late: still read, since the mark has not passed it.
    step = advanceFollow(state, [6, 7, 8], 2_000, 5_000);
    expect(step.send).toEqual([7]);
    state = step.next;
    step = advanceFollow(state, [6, 7, 8], 7_000, 5_000);
    expect(step.send).toEqual([]);
    expect(step.next.lowWater).toBe(8);
    expect(step.next.sent.size).toBe(0);
  });

  it('sends every id exactly once whatever order commits come in (within the settle time)', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(
          [...Array(30).keys()].map((i) => i + 1),
          { minLength: 30 },
        ),
        (order) => {
          // Ids become visible in `order`, one per 100 ms; settle covers the whole run.
          let state = startFollow(0);
          const visible: number[] = [];
          const sent: number[] = [];
          order.forEach((id, i) => {
            visible.push(id);
            const read = visible.filter((v) => v > state.lowWater).sort((a, b) => a - b);
            const step = advanceFollow(state, read, i * 100, 10_000);
            sent.push(...step.send);
            state = step.next;
          });
          expect([...sent].sort((a, b) => a - b)).toEqual(order.slice().sort((a, b) => a - b));
          expect(new Set(sent).size).toBe(sent.length);
        },
      ),
    );
  });
});
