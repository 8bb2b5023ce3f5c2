import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  planQueueWake,
  queueScaleProblems,
  type QueueWorker,
} from '../../../src/core/jobs/queue-wake.ts';

const worker = fc.record({
  id: fc.constantFrom('w-1', 'w-2', 'w-3', 'w-4', 'w-5', 'w-6'),
  version: fc.nat(9),
  status: fc.constantFrom('running', 'warm', 'sleeping', 'stopped'),
  desiredStatus: fc.constantFrom('running', 'warm', 'sleeping', 'stopped'),
  idleSlot: fc.constantFrom(null, 'running', 'warm'),
}) as fc.Arbitrary<QueueWorker>;

const scale = fc
  .tuple(fc.nat(6), fc.nat(6))
  .map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) }));

describe('queue wake', () => {
  it('raises idle-lowered workers up to the demand within min and max, warm first', () => {
    fc.assert(
      fc.property(
        scale,
        fc.uniqueArray(worker, { selector: (w) => w.id }),
        fc.nat(8),
        fc.nat(3),
        (s, workers, queued, running) => {
          const wakes = planQueueWake(s, workers, { queued, running });
          const awake = workers.filter((w) => w.desiredStatus === 'running').length;
          const want = Math.min(s.max, Math.max(s.min, queued + running));
          const lowered = workers.filter(
            (w) =>
              w.idleSlot === 'running' &&
              (w.desiredStatus === 'warm' || w.desiredStatus === 'sleeping'),
          );
          // As many as are wanted and can be raised; never above max unless already there.
          expect(wakes).toHaveLength(Math.max(0, Math.min(want - awake, lowered.length)));
          expect(new Set(wakes.map((w) => w.id)).size).toBe(wakes.length);
          for (const wake of wakes) {
            const w = workers.find((x) => x.id === wake.id);
            expect(lowered).toContain(w);
            expect(wake.reason).toBe(w?.desiredStatus === 'warm' ? 'queue-resume' : 'queue-wake');
          }
          // A sleeping worker is woken only when no warm one is left to resume.
          const resumed = wakes.filter((w) => w.reason === 'queue-resume').length;
          const warm = lowered.filter((w) => w.desiredStatus === 'warm').length;
          if (wakes.some((w) => w.reason === 'queue-wake')) expect(resumed).toBe(warm);
        },
      ),
    );
  });

  it('a queued job wakes a sleeping worker of a pool scaled to zero', () => {
    const sleeping: QueueWorker = {
      id: 'w-1',
      version: 4,
      status: 'sleeping',
      desiredStatus: 'sleeping',
      idleSlot: 'running',
    };
    expect(planQueueWake({ min: 0, max: 3 }, [sleeping], { queued: 1, running: 0 })).toEqual([
      { id: 'w-1', version: 4, to: 'running', reason: 'queue-wake' },
    ]);
    expect(planQueueWake({ min: 0, max: 3 }, [sleeping], { queued: 0, running: 0 })).toEqual([]);
    // An operator's sleep (no idle slot) is not the queue's to undo.
    expect(
      planQueueWake({ min: 0, max: 3 }, [{ ...sleeping, idleSlot: null }], {
        queued: 2,
        running: 0,
      }),
    ).toEqual([]);
  });

  it('leaves a worker waiting for room on its node to the scheduler', () => {
    const waiting: QueueWorker = {
      id: 'w-1',
      version: 3,
      status: 'sleeping',
      desiredStatus: 'sleeping',
      idleSlot: 'running',
      pressureSleptAt: '2026-03-01T09:00:00.000Z',
    };
    const lowered: QueueWorker = { ...waiting, id: 'w-2', pressureSleptAt: null };
    const wakes = planQueueWake({ min: 0, max: 4 }, [waiting, lowered], { queued: 2, running: 0 });
    expect(wakes.map((w) => w.id)).toEqual(['w-2']);
  });

  it('checks the bounds', () => {
    expect(queueScaleProblems({ min: 0, max: 4 })).toEqual([]);
    expect(queueScaleProblems({ min: 3, max: 2 })).toHaveLength(1);
    expect(queueScaleProblems({ min: -1, max: 1.5 })).toHaveLength(2);
  });
});
