import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  leasedInstance,
  planQueueScale,
  queueLowering,
  wantedAwake,
} from '../../../src/core/jobs/queue-scale.ts';
import type { QueueWorker } from '../../../src/core/jobs/queue-wake.ts';
import type { DesiredStatus } from '../../../src/core/model.ts';

const ids = ['w-1', 'w-2', 'w-3', 'w-4', 'w-5', 'w-6'];
const statuses = ['running', 'warm', 'sleeping', 'stopped'] as const;

const worker = fc.record({
  id: fc.constantFrom(...ids),
  version: fc.nat(9),
  status: fc.constantFrom(...statuses),
  desiredStatus: fc.constantFrom(...statuses),
  idleSlot: fc.constantFrom(null, 'running', 'warm'),
}) as fc.Arbitrary<QueueWorker>;
const workers = fc.uniqueArray(worker, { selector: (w) => w.id });

const scale = fc
  .tuple(fc.nat(8), fc.nat(8))
  .map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) }));

const awake = (ws: readonly { desiredStatus: DesiredStatus }[]) =>
  ws.filter((w) => w.desiredStatus === 'running').length;
const raisable = (ws: readonly QueueWorker[]) =>
  ws.filter(
    (w) =>
      w.idleSlot === 'running' && (w.desiredStatus === 'warm' || w.desiredStatus === 'sleeping'),
  ).length;

/** Counts that hold at least the given workers (a pool's slots cover its live instances). */
const countsFor = (ws: readonly QueueWorker[], extra: number) => ({
  running: ws.filter((w) => w.desiredStatus === 'running' || w.idleSlot === 'running').length,
  warm: extra,
  sleeping: 0,
});

describe('queue scale: growing', () => {
  it('never above max, reaches the wanted number when raising and room allow, raises first', () => {
    fc.assert(
      fc.property(
        scale,
        workers,
        fc.nat(3),
        fc.nat(12),
        fc.nat(4),
        (s, ws, extra, queued, running) => {
          const counts = countsFor(ws, extra);
          const slots = counts.running + counts.warm + counts.sleeping;
          const plan = planQueueScale(s, counts, ws, { queued, running });
          const before = awake(ws);
          const after = before + plan.raise.length + plan.add;
          expect(plan.add).toBeGreaterThanOrEqual(0);
          // Never above max (unless an operator had more awake already: then nothing moves).
          expect(after).toBeLessThanOrEqual(Math.max(s.max, before));
          if (before >= s.max) expect(after).toBe(before);
          // The pool's slots never grow past max.
          if (plan.add > 0) expect(slots + plan.add).toBeLessThanOrEqual(s.max);
          // Adds only once every raisable worker is raised.
          if (plan.add > 0) expect(plan.raise).toHaveLength(raisable(ws));
          // As many awake as wanted, as far as raising and room allow; at least min when they do.
          const want = wantedAwake(s, { queued, running });
          const reachable = before + raisable(ws) + Math.max(0, s.max - slots);
          expect(after).toBe(Math.max(before, Math.min(want, reachable)));
          if (reachable >= s.min) expect(after).toBeGreaterThanOrEqual(Math.min(s.min, s.max));
        },
      ),
    );
  });

  it('adds workers to a pool with none to raise, up to max', () => {
    const counts = { running: 1, warm: 0, sleeping: 0 };
    const busy: QueueWorker = {
      id: 'w-1',
      version: 1,
      status: 'running',
      desiredStatus: 'running',
      idleSlot: null,
    };
    expect(planQueueScale({ min: 0, max: 3 }, counts, [busy], { queued: 5, running: 1 })).toEqual({
      raise: [],
      add: 2,
    });
    expect(planQueueScale({ min: 0, max: 3 }, counts, [busy], { queued: 0, running: 1 })).toEqual({
      raise: [],
      add: 0,
    });
    // min counts even with an empty queue.
    expect(planQueueScale({ min: 2, max: 3 }, counts, [busy], { queued: 0, running: 0 })).toEqual({
      raise: [],
      add: 1,
    });
  });
});

describe('queue scale: lowering through the idle policy', () => {
  const lowering = fc.uniqueArray(
    fc.record({
      id: fc.constantFrom(...ids),
      desiredStatus: fc.constantFrom<DesiredStatus>('running', 'warm', 'sleeping'),
    }),
    { selector: (c) => c.id },
  );

  it('never lowers a leased worker, never below min awake, lets the rest through', () => {
    fc.assert(
      fc.property(
        workers,
        lowering,
        fc.nat(6),
        fc.subarray(ids),
        (ws, proposed, min, leasedIds) => {
          const changes = proposed.filter((c) => ws.some((w) => w.id === c.id));
          const leased = new Set(leasedIds);
          const kept = queueLowering(changes, ws, { min, leased });
          const was = (id: string) => ws.find((w) => w.id === id)?.desiredStatus;
          const rank = (d: DesiredStatus | undefined) =>
            d === 'running' ? 3 : d === 'warm' ? 2 : d === 'sleeping' ? 1 : 0;
          for (const change of kept) {
            if (rank(change.desiredStatus) < rank(was(change.id))) {
              expect(leased.has(change.id)).toBe(false);
            }
          }
          // Awake after the changes: never below min, unless it was below min already.
          const after = ws.map((w) => kept.find((c) => c.id === w.id) ?? w);
          const before = awake(ws);
          expect(awake(after)).toBeGreaterThanOrEqual(Math.min(before, min));
          // Raising changes always pass; a dropped change is a lowering of a leased worker
          // or of an awake worker the floor keeps.
          for (const change of changes.filter((c) => !kept.includes(c))) {
            expect(rank(change.desiredStatus)).toBeLessThan(rank(was(change.id)));
            expect(leased.has(change.id) || was(change.id) === 'running').toBe(true);
          }
          // As many awake lowered as the floor allows among the unleased.
          const lowerable = changes.filter(
            (c) => was(c.id) === 'running' && c.desiredStatus !== 'running' && !leased.has(c.id),
          ).length;
          const lowered = kept.filter(
            (c) => was(c.id) === 'running' && c.desiredStatus !== 'running',
          ).length;
          expect(lowered).toBe(Math.max(0, Math.min(lowerable, before - min)));
        },
      ),
    );
  });

  it('reads the instance out of a lease holder', () => {
    expect(leasedInstance('node-1/ci-ab12')).toBe('ci-ab12');
    expect(leasedInstance(null)).toBeUndefined();
    expect(leasedInstance('garbage')).toBeUndefined();
  });
});
