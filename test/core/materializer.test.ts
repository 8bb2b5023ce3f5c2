import { describe, it, expect } from 'vitest';
import { ConflictError, ValidationError } from '../../src/core/errors.ts';
import { isValidId } from '../../src/core/ids.ts';
import type { InstanceStatus, PoolCounts } from '../../src/core/model.ts';
import { materialize, newInstanceId } from '../../src/core/materializer.ts';
import type { MaterializeInstance, MaterializeResult } from '../../src/core/materializer.ts';
import { pathTo } from '../../src/core/state-machine.ts';

function counts(running: number, warm = 0, sleeping = 0): PoolCounts {
  return { running, warm, sleeping };
}

/** `id:status` or `id:status>desired` (desired defaults to stopped). */
function fleet(...specs: string[]): MaterializeInstance[] {
  return specs.map((spec) => {
    const [id = '', rest = ''] = spec.split(':');
    const [status = '', desired = 'stopped'] = rest.split('>');
    return {
      id,
      status: status as InstanceStatus,
      desiredStatus: desired as MaterializeInstance['desiredStatus'],
    };
  });
}

function assigned(result: MaterializeResult): Record<string, string> {
  return Object.fromEntries(result.assignments.map((a) => [a.id, a.desiredStatus]));
}

/** Applies a result the way the coordinator would; new instances get ids that sort anywhere. */
function apply(
  instances: readonly MaterializeInstance[],
  result: MaterializeResult,
  newIds: readonly string[] = result.create.map((_, i) => `new-${String(9 - i)}`),
): MaterializeInstance[] {
  const desired = new Map(result.assignments.map((a) => [a.id, a.desiredStatus]));
  const updated = instances.map((i) => ({
    ...i,
    desiredStatus: desired.get(i.id) ?? i.desiredStatus,
  }));
  const created = result.create.map((desiredStatus, i) => ({
    id: newIds[i] ?? `extra-${i}`,
    status: 'created' as InstanceStatus,
    desiredStatus,
  }));
  return [...updated, ...created];
}

/** Moves every instance one step along its path, as an agent would between two ticks. */
function step(instances: readonly MaterializeInstance[]): MaterializeInstance[] {
  return instances.map((i) => {
    if (i.status === 'destroyed') return i;
    const next = pathTo(i.status, i.desiredStatus)[0];
    return next === undefined ? i : { ...i, status: next };
  });
}

describe('materialize: creating', () => {
  it('creates everything for an empty pool, running first', () => {
    expect(materialize({ counts: counts(2, 1, 3), instances: [] })).toEqual({
      assignments: [],
      create: ['running', 'running', 'warm', 'sleeping', 'sleeping', 'sleeping'],
    });
  });

  it('does nothing for zero counts and no instances', () => {
    expect(materialize({ counts: counts(0), instances: [] })).toEqual({
      assignments: [],
      create: [],
    });
  });

  it('creates only what existing instances cannot cover', () => {
    const result = materialize({ counts: counts(3), instances: fleet('a:running>running') });
    expect(result).toEqual({ assignments: [], create: ['running', 'running'] });
  });

  it('covers the costliest slot with new instances when short', () => {
    // One existing instance goes to running (filled first); warm and sleeping are created.
    const result = materialize({
      counts: counts(1, 1, 1),
      instances: fleet('a:sleeping>sleeping'),
    });
    expect(assigned(result)).toEqual({ a: 'running' });
    expect(result.create).toEqual(['warm', 'sleeping']);
  });
});

describe('materialize: preference order', () => {
  it('running slot prefers running > warm > sleeping > ready > created > stopped > failed', () => {
    const all = fleet(
      'f:failed',
      's:stopped',
      'c:created',
      'r:ready',
      'z:sleeping',
      'w:warm',
      'u:running',
    );
    const order = [1, 2, 3, 4, 5, 6, 7].map((n) => {
      const result = materialize({ counts: counts(n), instances: all });
      return Object.keys(assigned(result)).filter((id) => assigned(result)[id] === 'running');
    });
    expect(order.map((ids) => ids.sort().join(''))).toEqual([
      'u',
      'uw',
      'uwz',
      'ruwz',
      'cruwz',
      'crsuwz',
      'cfrsuwz',
    ]);
  });

  it('warm slot prefers warm > running > sleeping', () => {
    const all = fleet('a:sleeping', 'b:running', 'c:warm', 'd:stopped');
    expect(assigned(materialize({ counts: counts(0, 1), instances: all }))).toEqual({ c: 'warm' });
    expect(assigned(materialize({ counts: counts(0, 2), instances: all }))).toEqual({
      b: 'warm',
      c: 'warm',
    });
    expect(assigned(materialize({ counts: counts(0, 3), instances: all }))).toEqual({
      a: 'warm',
      b: 'warm',
      c: 'warm',
    });
  });

  it('sleeping slot prefers sleeping > warm > running', () => {
    const all = fleet('a:running', 'b:warm', 'c:sleeping', 'd:failed');
    expect(assigned(materialize({ counts: counts(0, 0, 1), instances: all }))).toEqual({
      c: 'sleeping',
    });
    expect(assigned(materialize({ counts: counts(0, 0, 2), instances: all }))).toEqual({
      b: 'sleeping',
      c: 'sleeping',
    });
    expect(assigned(materialize({ counts: counts(0, 0, 3), instances: all }))).toEqual({
      a: 'sleeping',
      b: 'sleeping',
      c: 'sleeping',
    });
  });

  it('fills running before warm before sleeping', () => {
    // Both warm: running takes the lower id, warm the other; the sleeping one stays asleep.
    const all = fleet('b:warm', 'a:warm', 'c:sleeping>sleeping');
    expect(assigned(materialize({ counts: counts(1, 1, 1), instances: all }))).toEqual({
      a: 'running',
      b: 'warm',
    });
  });

  it('breaks ties by id, whatever the input order', () => {
    const all = fleet('m:stopped', 'b:stopped', 'x:stopped', 'a:stopped');
    const forward = materialize({ counts: counts(2), instances: all });
    const backward = materialize({ counts: counts(2), instances: [...all].reverse() });
    expect(forward).toEqual(backward);
    expect(assigned(forward)).toEqual({ a: 'running', b: 'running' });
  });

  it('keeps instances already meant for a slot even when a cheaper one is free', () => {
    const all = fleet('a:created>warm', 'b:created>running', 'c:stopped>running', 'd:running');
    expect(materialize({ counts: counts(2, 1), instances: all }).assignments).toEqual([]);
  });

  it('drops the costliest of the assigned instances on scale-down', () => {
    const all = fleet('a:stopped>warm', 'b:warm>warm', 'c:running>warm');
    expect(assigned(materialize({ counts: counts(0, 2), instances: all }))).toEqual({
      a: 'stopped',
    });
  });
});

describe('materialize: scaling', () => {
  it('stops surplus instances on scale-down, keeping the cheapest ones', () => {
    const all = fleet(
      'a:running>running',
      'b:running>running',
      'c:ready>running',
      'd:failed>running',
    );
    expect(materialize({ counts: counts(2), instances: all })).toEqual({
      assignments: [
        { id: 'c', desiredStatus: 'stopped' },
        { id: 'd', desiredStatus: 'stopped' },
      ],
      create: [],
    });
  });

  it('stops everything at zero counts and never destroys', () => {
    const all = fleet('a:running>running', 'b:sleeping>sleeping', 'c:stopped');
    const result = materialize({ counts: counts(0), instances: all });
    expect(result.assignments).toEqual([
      { id: 'a', desiredStatus: 'stopped' },
      { id: 'b', desiredStatus: 'stopped' },
    ]);
    expect(result.create).toEqual([]);
  });

  it('reuses stopped instances before creating new ones', () => {
    const all = fleet('a:stopped', 'b:stopped', 'c:running>running');
    const result = materialize({ counts: counts(2, 1), instances: all });
    expect(assigned(result)).toEqual({ a: 'running', b: 'warm' });
    expect(result.create).toEqual([]);
  });

  it('reuses failed instances before creating new ones', () => {
    const result = materialize({ counts: counts(1), instances: fleet('a:failed') });
    expect(assigned(result)).toEqual({ a: 'running' });
    expect(result.create).toEqual([]);
  });

  it('moves instances between slots when counts shift', () => {
    const all = fleet('a:running>running', 'b:running>running', 'c:running>running');
    expect(assigned(materialize({ counts: counts(1, 1, 1), instances: all }))).toEqual({
      b: 'warm',
      c: 'sleeping',
    });
  });

  it('leaves destroyed instances out of every slot and every assignment', () => {
    const all = fleet('a:destroyed>destroyed', 'b:running>destroyed', 'c:stopped');
    const result = materialize({ counts: counts(2), instances: all });
    expect(result).toEqual({
      assignments: [{ id: 'c', desiredStatus: 'running' }],
      create: ['running'],
    });
  });
});

describe('materialize: idempotence and stability', () => {
  const scenarios: [string, PoolCounts, MaterializeInstance[]][] = [
    ['empty pool', counts(2, 2, 2), []],
    [
      'mixed fleet',
      counts(2, 1, 1),
      fleet('a:warm', 'b:stopped', 'c:failed', 'd:sleeping>sleeping'),
    ],
    ['scale down', counts(1), fleet('a:running>running', 'b:warm>warm', 'c:sleeping>sleeping')],
    ['partly short', counts(3, 3), fleet('z:stopped', 'y:ready>running')],
  ];

  it.each(scenarios)(
    '%s: applying the output and running again changes nothing',
    (_, want, all) => {
      const once = apply(all, materialize({ counts: want, instances: all }));
      expect(materialize({ counts: want, instances: once })).toEqual({
        assignments: [],
        create: [],
      });
    },
  );

  it.each(scenarios)(
    '%s: stays settled while the agent walks every instance to its goal',
    (_, want, all) => {
      let current = apply(all, materialize({ counts: want, instances: all }));
      for (let tick = 0; tick < 6; tick += 1) {
        current = step(current);
        const again = materialize({ counts: want, instances: current });
        expect(again).toEqual({ assignments: [], create: [] });
      }
      const tally = (status: string) => current.filter((i) => i.status === status).length;
      expect([tally('running'), tally('warm'), tally('sleeping')]).toEqual([
        want.running,
        want.warm,
        want.sleeping,
      ]);
    },
  );

  it.each(scenarios)(
    '%s: stays settled whatever order the agent moves instances in',
    (_, want, all) => {
      let current = apply(all, materialize({ counts: want, instances: all }));
      // Move one instance at a time, newest ids first, re-materializing after every move.
      for (let tick = 0; tick < 6 * current.length; tick += 1) {
        const movable = current
          .filter((i) => i.status !== 'destroyed' && pathTo(i.status, i.desiredStatus).length > 0)
          .map((i) => i.id)
          .sort()
          .reverse();
        const id = movable[tick % Math.max(movable.length, 1)];
        current = current.map((i) => (i.id === id ? (step([i])[0] ?? i) : i));
        expect(materialize({ counts: want, instances: current })).toEqual({
          assignments: [],
          create: [],
        });
      }
    },
  );

  it('gives the same answer every time', () => {
    const all = fleet('q:stopped', 'p:warm', 'o:created', 'n:sleeping');
    const first = materialize({ counts: counts(1, 1, 1), instances: all });
    for (let i = 0; i < 5; i += 1) {
      expect(materialize({ counts: counts(1, 1, 1), instances: all })).toEqual(first);
    }
  });
});

describe('materialize: held asleep by pressure', () => {
  const held = (id: string, status: InstanceStatus = 'sleeping'): MaterializeInstance => ({
    id,
    status,
    desiredStatus: 'sleeping',
    pressureSleptAt: '2026-01-01T00:00:00.000Z',
  });

  it('still fills its warm slot: nothing else is woken and it is left asleep', () => {
    const pool = [held('a'), ...fleet('b:warm>warm', 'c:stopped>stopped')];
    expect(materialize({ counts: counts(0, 2), instances: pool })).toEqual({
      assignments: [],
      create: [],
    });
    // Also before the agent has slept it, and with a sleeping slot free for it.
    const early = [held('a', 'warm'), ...fleet('b:warm>warm', 'c:sleeping>sleeping')];
    expect(materialize({ counts: counts(0, 2, 1), instances: early }).assignments).toEqual([]);
  });

  it('goes where a scale-down sends it, with an assignment that clears the marker', () => {
    const pool = [held('a'), ...fleet('b:warm>warm')];
    // b is hotter by cost (observed warm), so the single warm slot left is b's.
    expect(assigned(materialize({ counts: counts(0, 1, 1), instances: pool }))).toEqual({
      a: 'sleeping',
    });
    expect(assigned(materialize({ counts: counts(0, 0), instances: pool }))).toEqual({
      a: 'stopped',
      b: 'stopped',
    });
  });
});

describe('materialize: held lower by the idle policy', () => {
  const idle = (
    id: string,
    desiredStatus: 'warm' | 'sleeping',
    idleSlot: 'running' | 'warm',
  ): MaterializeInstance => ({ id, status: desiredStatus, desiredStatus, idleSlot });

  it('stands in its slot: nothing is woken or created for it', () => {
    const pool = [idle('a', 'sleeping', 'running')];
    expect(materialize({ counts: counts(1), instances: pool })).toEqual({
      assignments: [],
      create: [],
    });
  });

  it('moved to another slot above where it is held, stays held there (only its slot changes)', () => {
    expect(
      materialize({ counts: counts(0, 1), instances: [idle('a', 'sleeping', 'running')] })
        .assignments,
    ).toEqual([{ id: 'a', desiredStatus: 'sleeping', idleSlot: 'warm' }]);
    expect(
      materialize({ counts: counts(1), instances: [idle('a', 'warm', 'warm')] }).assignments,
    ).toEqual([{ id: 'a', desiredStatus: 'warm', idleSlot: 'running' }]);
  });

  it('moved to a slot at or below where it is held, goes there and loses its marker', () => {
    expect(
      materialize({ counts: counts(0, 0, 1), instances: [idle('a', 'sleeping', 'running')] })
        .assignments,
    ).toEqual([{ id: 'a', desiredStatus: 'sleeping' }]);
    expect(
      materialize({ counts: counts(0, 0, 1), instances: [idle('a', 'warm', 'running')] })
        .assignments,
    ).toEqual([{ id: 'a', desiredStatus: 'sleeping' }]);
    expect(
      materialize({ counts: counts(0), instances: [idle('a', 'warm', 'running')] }).assignments,
    ).toEqual([{ id: 'a', desiredStatus: 'stopped' }]);
  });
});

describe('materialize: validation', () => {
  it.each([counts(-1), counts(1.5), counts(0, Number.NaN), counts(0, 0, -2)])(
    'rejects %j',
    (bad) => {
      expect(() => materialize({ counts: bad, instances: [] })).toThrow(ValidationError);
    },
  );
});

describe('newInstanceId', () => {
  it('joins pool id and suffix', () => {
    expect(newInstanceId('web', [], 'a1b2c3')).toBe('web-a1b2c3');
  });

  it('trims the pool part so the id fits in 63 characters and keeps the suffix whole', () => {
    const pool = 'p'.repeat(63);
    const id = newInstanceId(pool, [], 'abcdef');
    expect(id).toHaveLength(63);
    expect(id.endsWith('-abcdef')).toBe(true);
    expect(isValidId(id)).toBe(true);
  });

  it('drops dashes left dangling by the trim', () => {
    const pool = `${'a'.repeat(55)}-${'b'.repeat(7)}`;
    const id = newInstanceId(pool, [], 'abcdefg');
    expect(id).toBe(`${'a'.repeat(55)}-abcdefg`);
    expect(isValidId(id)).toBe(true);
  });

  it('is deterministic', () => {
    expect(newInstanceId('web', ['web-x'], 'k9')).toBe(newInstanceId('web', ['web-x'], 'k9'));
  });

  it('refuses a collision so the caller retries with fresh randomness', () => {
    const error = (() => {
      try {
        newInstanceId('web', new Set(['web-a1']), 'a1');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).toMatch(/retry with another random suffix/);
  });

  it.each(['', 'ABC', 'a-b', 'a_b', 'x'.repeat(33)])('rejects suffix %j', (suffix) => {
    expect(() => newInstanceId('web', [], suffix)).toThrow(ValidationError);
  });

  it.each(['-web', 'Web', 'we b'])('rejects pool id %j', (pool) => {
    expect(() => newInstanceId(pool, [], 'abc')).toThrow(ValidationError);
  });
});
