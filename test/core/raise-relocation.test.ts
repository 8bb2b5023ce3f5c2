import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PlacementNode } from '../../src/core/placement.ts';
import {
  checkMoveWaitingAfter,
  planRelocations,
  type WaitingRaise,
} from '../../src/core/raise-relocation.ts';

const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const BOUND = 300_000;

const node = (id: string, vcpus: number, usedVcpus = 0): PlacementNode => ({
  id,
  vcpus,
  memMib: 65536,
  usedVcpus,
  usedMemMib: 0,
  poolCounts: {},
});

function waiting(
  id: string,
  nodeId: string,
  waitedSecs: number,
  change: { pinned?: boolean; moving?: boolean; status?: 'sleeping' | 'running' } = {},
): WaitingRaise {
  return {
    instance: {
      tenantId: 't',
      poolId: 'p',
      id,
      nodeId,
      status: change.status ?? 'sleeping',
      desiredStatus: 'sleeping',
      idleSlot: 'running',
      pressureSleptAt: new Date(T0 - waitedSecs * 1000).toISOString(),
    },
    pool: { pinned: change.pinned ?? false, vcpus: 1, memMib: 256, critical: false },
    moving: change.moving ?? false,
  };
}

describe('moving raises that waited too long for room', () => {
  it('moves only those past the bound, asleep, unpinned and not moving, oldest first', () => {
    const nodes = [node('n1', 1, 1), node('n2', 1)];
    const plan = planRelocations(
      nodes,
      [
        waiting('young', 'n1', 299),
        waiting('pinned', 'n1', 900, { pinned: true }),
        waiting('moving', 'n1', 900, { moving: true }),
        waiting('awake', 'n1', 900, { status: 'running' }),
        waiting('old', 'n1', 400),
        waiting('older', 'n1', 500),
      ],
      T0,
      BOUND,
    );
    // n2 has room for one: the oldest wait takes it, the other stays.
    expect(plan).toEqual([
      { key: 't/p/older', from: 'n1', to: 'n2', restore: 'running', waitedSecs: 500 },
    ]);
  });

  it('never plans more onto a node than it has room for, and never to its own node', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 900 })), {
          maxLength: 12,
        }),
        (free, raises) => {
          const nodes = free.map((f, i) => node(`n${i}`, 3, 3 - f));
          const asked = raises.map(([n, secs], i) => waiting(`i${i}`, `n${n % free.length}`, secs));
          const plan = planRelocations(nodes, asked, T0, BOUND);
          for (const [i, f] of free.entries()) {
            expect(plan.filter((r) => r.to === `n${i}`).length).toBeLessThanOrEqual(f);
          }
          for (const r of plan) expect(r.to).not.toBe(r.from);
          expect(plan.every((r) => r.waitedSecs >= BOUND / 1000)).toBe(true);
        },
      ),
    );
  });

  it('bounds the wait an operator may set', () => {
    expect(checkMoveWaitingAfter(300_000)).toBe(300_000);
    expect(() => checkMoveWaitingAfter(1_000)).toThrow(/between 60 s and 7 days/);
    expect(() => checkMoveWaitingAfter(8 * 86_400_000)).toThrow(/between/);
  });
});
