import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CounterAccumulator } from '../../../src/core/metrics/counter-accumulator.ts';

describe('CounterAccumulator', () => {
  it('keeps what earlier processes counted when a new one starts again at 0', () => {
    const counters = new CounterAccumulator();
    expect(counters.add('vm#cpu', 5, 'pid-1')).toBe(5);
    expect(counters.add('vm#cpu', 9, 'pid-1')).toBe(9);
    // A wake: a new VMM whose count starts over, already past the old one's.
    expect(counters.add('vm#cpu', 12, 'pid-2')).toBe(21);
    // Same source but lower: a restart all the same (a tap made anew).
    expect(counters.add('vm#cpu', 1, 'pid-2')).toBe(22);
    expect(counters.value('vm#cpu')).toBe(22);
    counters.retain((key) => key !== 'vm#cpu');
    expect(counters.value('vm#cpu')).toBeUndefined();
    expect(counters.add('vm#cpu', 3, 'pid-3')).toBe(3);
  });

  it('never goes down, and grows by exactly what each source counted', () => {
    const reading = fc.record({ source: fc.integer({ min: 0, max: 3 }), raw: fc.nat(1_000) });
    fc.assert(
      fc.property(fc.array(reading, { maxLength: 60 }), (readings) => {
        const counters = new CounterAccumulator();
        let previous = 0;
        let expected = 0;
        let last: { source: number; raw: number } | undefined;
        for (const r of readings) {
          const value = counters.add('k', r.raw, String(r.source));
          expect(value).toBeGreaterThanOrEqual(previous);
          const restarted = !last || last.source !== r.source || r.raw < last.raw;
          expected += restarted ? r.raw : r.raw - (last?.raw ?? 0);
          expect(value).toBe(expected);
          previous = value;
          last = r;
        }
      }),
    );
  });
});
