import { describe, expect, it } from 'vitest';
import { ReportDeltas } from '../../src/agent/heartbeat/report-deltas.ts';
import type { InstanceSample } from '../../src/contract/node-report.ts';
import { ValidationError, UnavailableError } from '../../src/core/errors.ts';

const s = (instance: string, cpuPermille = 0): InstanceSample => ({
  tenant: 'acme',
  pool: 'web',
  instance,
  cpuPermille,
});

describe('ReportDeltas', () => {
  it('sends whole reports until the coordinator takes deltas, then a sequenced whole one', () => {
    const deltas = new ReportDeltas({ epoch: 'e' });
    expect(deltas.next([s('a')], undefined)).toEqual({ instances: [s('a')] });
    expect(deltas.answered({})).toBe(false);
    expect(deltas.next([s('a')], undefined).report).toBeUndefined();
    expect(deltas.answered({ deltas: true })).toBe(false);
    expect(deltas.next([s('a')], undefined)).toEqual({
      instances: [s('a')],
      report: { epoch: 'e', seq: 1 },
    });
    deltas.answered({ deltas: true });
    expect(deltas.next([s('a'), s('b')], undefined)).toEqual({
      instances: [s('b')],
      report: { epoch: 'e', seq: 2, base: 1 },
    });
  });

  it('builds on the last answered report only, and goes whole every N beats and when asked', () => {
    let now = 0;
    const deltas = new ReportDeltas({
      epoch: 'e',
      policy: { everyBeats: 3, everyMs: 60_000 },
      now: () => now,
    });
    deltas.next([], undefined);
    deltas.answered({ deltas: true });
    deltas.next([s('a')], undefined); // whole, seq 1
    deltas.answered({ deltas: true });
    deltas.next([s('a', 1)], undefined); // seq 2, lost
    deltas.failed(new UnavailableError('lost'));
    expect(deltas.next([s('a', 1)], undefined).report).toEqual({ epoch: 'e', seq: 3, base: 1 });
    deltas.answered({ deltas: true });
    expect(deltas.next([s('a', 1)], undefined)).toEqual({
      instances: [],
      report: { epoch: 'e', seq: 4, base: 3 },
    });
    deltas.answered({ deltas: true });
    // Third beat since the whole one: whole again.
    expect(deltas.next([s('a', 1)], undefined).report).toEqual({ epoch: 'e', seq: 5 });
    deltas.answered({ deltas: true });
    expect(deltas.next([], undefined).report).toEqual({
      epoch: 'e',
      seq: 6,
      base: 5,
      removed: [{ tenant: 'acme', pool: 'web', instance: 'a' }],
    });
    expect(deltas.answered({ deltas: true, fullReport: true })).toBe(true);
    expect(deltas.next([], undefined).report).toEqual({ epoch: 'e', seq: 7 });
    deltas.answered({ deltas: true });
    now = 60_000;
    expect(deltas.next([], undefined).report).toEqual({ epoch: 'e', seq: 8 });
  });

  it('falls back to plain whole reports when a coordinator refuses the report as invalid', () => {
    const deltas = new ReportDeltas({ epoch: 'e' });
    deltas.next([], undefined);
    deltas.answered({ deltas: true });
    expect(deltas.next([s('a')], undefined).report).toBeDefined();
    deltas.failed(new ValidationError('unrecognized key: report'));
    expect(deltas.next([s('a')], undefined)).toEqual({ instances: [s('a')] });
  });
});
