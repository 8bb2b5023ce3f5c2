import { describe, it, expect } from 'vitest';
import { IllegalTransitionError } from '../../src/core/errors.ts';
import { desiredStatuses, instanceStatuses } from '../../src/core/model.ts';
import type { InstanceStatus } from '../../src/core/model.ts';
import {
  assertTransition,
  canTransition,
  legalNextStatuses,
  pathTo,
} from '../../src/core/state-machine.ts';

/** The whole legal graph, written out by hand so the implementation is checked, not mirrored. */
const legal: Record<InstanceStatus, InstanceStatus[]> = {
  created: ['ready', 'stopped', 'failed', 'destroyed'],
  ready: ['running', 'stopped', 'failed', 'destroyed'],
  running: ['warm', 'stopped', 'failed', 'destroyed'],
  warm: ['running', 'sleeping', 'stopped', 'failed', 'destroyed'],
  sleeping: ['running', 'stopped', 'failed', 'destroyed'],
  stopped: ['ready', 'failed', 'destroyed'],
  failed: ['ready', 'stopped', 'destroyed'],
  destroyed: [],
};

describe('canTransition', () => {
  for (const from of instanceStatuses) {
    for (const to of instanceStatuses) {
      const expected = legal[from].includes(to);
      it(`${from} -> ${to} is ${expected ? 'legal' : 'illegal'}`, () => {
        expect(canTransition(from, to)).toBe(expected);
      });
    }
  }

  it('never allows a self-transition', () => {
    for (const status of instanceStatuses) expect(canTransition(status, status)).toBe(false);
  });
});

describe('legalNextStatuses', () => {
  it.each(instanceStatuses)('lists exactly the legal targets of %s in canonical order', (from) => {
    expect(legalNextStatuses(from)).toEqual(legal[from]);
  });

  it('returns a copy the caller may mutate', () => {
    const next = legalNextStatuses('ready');
    next.push('destroyed');
    expect(legalNextStatuses('ready')).toEqual(legal.ready);
  });
});

describe('assertTransition', () => {
  it('accepts every legal transition', () => {
    for (const from of instanceStatuses) {
      for (const to of legal[from]) expect(() => assertTransition('vm a', from, to)).not.toThrow();
    }
  });

  it('rejects every illegal transition with an IllegalTransitionError', () => {
    for (const from of instanceStatuses) {
      for (const to of instanceStatuses) {
        if (legal[from].includes(to)) continue;
        expect(() => assertTransition('vm a', from, to)).toThrow(IllegalTransitionError);
      }
    }
  });

  it('names the subject, both statuses and what is legal instead', () => {
    try {
      assertTransition('instance acme/web/web-1', 'sleeping', 'warm');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(IllegalTransitionError);
      const e = error as IllegalTransitionError;
      expect(e.code).toBe('illegal_transition');
      expect(e.from).toBe('sleeping');
      expect(e.to).toBe('warm');
      expect(e.message).toBe(
        "instance acme/web/web-1: cannot go from 'sleeping' to 'warm'; from 'sleeping' it may go to: running, stopped, failed, destroyed",
      );
    }
  });

  it('says destroyed is terminal', () => {
    expect(() => assertTransition('vm', 'destroyed', 'ready')).toThrow(/'destroyed' is terminal/);
  });
});

describe('pathTo', () => {
  const cases: [InstanceStatus, (typeof desiredStatuses)[number], InstanceStatus[]][] = [
    ['created', 'running', ['ready', 'running']],
    ['created', 'warm', ['ready', 'running', 'warm']],
    ['created', 'sleeping', ['ready', 'running', 'warm', 'sleeping']],
    ['created', 'stopped', ['stopped']],
    ['created', 'destroyed', ['destroyed']],
    ['ready', 'running', ['running']],
    ['running', 'warm', ['warm']],
    ['running', 'sleeping', ['warm', 'sleeping']],
    ['running', 'stopped', ['stopped']],
    ['warm', 'running', ['running']],
    ['warm', 'sleeping', ['sleeping']],
    ['sleeping', 'running', ['running']],
    ['sleeping', 'warm', ['running', 'warm']],
    ['sleeping', 'stopped', ['stopped']],
    ['stopped', 'running', ['ready', 'running']],
    ['stopped', 'warm', ['ready', 'running', 'warm']],
    ['stopped', 'sleeping', ['ready', 'running', 'warm', 'sleeping']],
    ['stopped', 'destroyed', ['destroyed']],
    ['failed', 'running', ['ready', 'running']],
    ['failed', 'stopped', ['stopped']],
    ['failed', 'sleeping', ['ready', 'running', 'warm', 'sleeping']],
  ];
  it.each(cases)('%s -> %s walks %j', (from, desired, expected) => {
    expect(pathTo(from, desired)).toEqual(expected);
  });

  it.each(desiredStatuses)('%s -> itself is empty', (status) => {
    expect(pathTo(status, status)).toEqual([]);
  });

  it('walks only legal steps and never through failed, from every status to every goal', () => {
    for (const from of instanceStatuses) {
      if (from === 'destroyed') continue;
      for (const desired of desiredStatuses) {
        const path = pathTo(from, desired);
        let at: InstanceStatus = from;
        for (const step of path) {
          expect(canTransition(at, step)).toBe(true);
          expect(step).not.toBe('failed');
          at = step;
        }
        expect(at).toBe(desired);
      }
    }
  });

  it.each(desiredStatuses.filter((s) => s !== 'destroyed'))(
    'refuses destroyed -> %s',
    (desired) => {
      expect(() => pathTo('destroyed', desired)).toThrow(IllegalTransitionError);
      expect(() => pathTo('destroyed', desired, 'vm x')).toThrow(/^vm x: cannot go/);
    },
  );
});
