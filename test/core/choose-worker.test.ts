import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseWorker, type WorkerCandidate } from '../../src/core/worker-exec/choose-worker.ts';

const id = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
const candidate = fc.record({
  poolId: fc.constantFrom('workers', 'more'),
  instanceId: id,
  desiredStatus: fc.constantFrom('running', 'warm', 'sleeping', 'stopped', 'destroyed'),
});
const pool = fc.uniqueArray(candidate, {
  selector: (c) => `${c.poolId}/${c.instanceId}`,
  maxLength: 12,
});
const key = fc.stringMatching(/^[A-Za-z0-9:._-]{1,40}$/);
const live = (c: WorkerCandidate) =>
  c.desiredStatus !== 'stopped' && c.desiredStatus !== 'destroyed';

describe('chooseWorker', () => {
  it('gives a key a live worker of the candidates, the same one whatever their order', () => {
    fc.assert(
      fc.property(pool, key, (candidates, k) => {
        const chosen = chooseWorker(candidates, { kind: 'key', key: k });
        const usable = candidates.filter(live);
        if (usable.length === 0) {
          expect(chosen).toBeUndefined();
          return;
        }
        expect(usable.map((c) => `${c.poolId}/${c.instanceId}`)).toContain(
          `${chosen?.poolId}/${chosen?.instanceId}`,
        );
        expect(chooseWorker([...candidates].reverse(), { kind: 'key', key: k })).toEqual(chosen);
      }),
    );
  });

  it('moves a key only when its own worker goes (rendezvous): adding a worker moves a key to it or not at all', () => {
    fc.assert(
      fc.property(pool, candidate, key, (candidates, extra, k) => {
        fc.pre(
          !candidates.some((c) => c.poolId === extra.poolId && c.instanceId === extra.instanceId),
        );
        const before = chooseWorker(candidates, { kind: 'key', key: k });
        const after = chooseWorker([...candidates, extra], { kind: 'key', key: k });
        if (before && after) {
          const moved = after.poolId !== before.poolId || after.instanceId !== before.instanceId;
          if (moved) expect(after).toEqual({ poolId: extra.poolId, instanceId: extra.instanceId });
        }
      }),
    );
  });

  it('takes a named target only when it is a live candidate', () => {
    fc.assert(
      fc.property(pool, candidate, (candidates, target) => {
        const chosen = chooseWorker(candidates, { kind: 'target', ...target });
        const found = candidates.find(
          (c) => c.poolId === target.poolId && c.instanceId === target.instanceId,
        );
        if (found && live(found))
          expect(chosen).toEqual({ poolId: found.poolId, instanceId: found.instanceId });
        else expect(chosen).toBeUndefined();
      }),
    );
  });
});
