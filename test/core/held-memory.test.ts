import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { committedMemMib, instanceHeldMib, nodeHeldMib } from '../../src/core/held-memory.ts';

const size = fc.integer({ min: 128, max: 8192 });
const rssKib = fc.option(fc.integer({ min: 0, max: 16 * 1024 * 1024 }), { nil: undefined });

/** An instance as the coordinator and the agent see it: its size and what its VMM holds. */
const instance = fc.record({ size, rssKib });
type Inst = { size: number; rssKib: number | undefined };
const held = (i: Inst) => instanceHeldMib(i.size, i.rssKib);
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

function report(reported: readonly Inst[]) {
  return {
    memMib: sum(reported.map((i) => i.size)),
    heldMemMib: nodeHeldMib(
      reported.map((i) => ({
        status: 'running',
        memMib: i.size,
        ...(i.rssKib === undefined ? {} : { rssKib: i.rssKib }),
      })),
    ),
  };
}

describe('instanceHeldMib', () => {
  it('is the VMM resident memory rounded up to MiB, bounded by the size; the size when unmeasured', () => {
    expect(instanceHeldMib(256, 40 * 1024 + 1)).toBe(41);
    expect(instanceHeldMib(256, 400 * 1024)).toBe(256);
    expect(instanceHeldMib(256, undefined)).toBe(256);
    fc.assert(
      fc.property(size, rssKib, (s, r) => {
        const h = instanceHeldMib(s, r);
        expect(h).toBeGreaterThanOrEqual(0);
        expect(h).toBeLessThanOrEqual(s);
        if (r === undefined) expect(h).toBe(s);
        else expect(h).toBeGreaterThanOrEqual(Math.min(s, r / 1024));
      }),
    );
  });
});

describe('nodeHeldMib', () => {
  it('counts running and warm instances only', () => {
    const rss = 50 * 1024;
    expect(
      nodeHeldMib([
        { status: 'running', memMib: 256, rssKib: rss },
        { status: 'warm', memMib: 256, rssKib: rss },
        { status: 'sleeping', memMib: 256, rssKib: rss },
        { status: 'stopped', memMib: 256 },
        { status: 'running', memMib: 512 },
      ]),
    ).toBe(50 + 50 + 512);
  });
});

describe('committedMemMib', () => {
  it('is the sizes without a report, or from an agent that does not measure', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (sized, reported) => {
          expect(committedMemMib(sized, null)).toBe(sized);
          expect(committedMemMib(sized, { memMib: reported })).toBe(sized);
        },
      ),
    );
  });

  it('is exactly what is held when every reported instance still holds, new ones at their size', () => {
    fc.assert(
      fc.property(
        fc.array(instance, { maxLength: 20 }),
        fc.array(instance, { maxLength: 5 }),
        (reported, added) => {
          const sized = sum([...reported, ...added].map((i) => i.size));
          const exact = sum(reported.map(held)) + sum(added.map((i) => i.size));
          expect(committedMemMib(sized, report(reported))).toBe(exact);
        },
      ),
    );
  });

  it('never counts below what the remaining instances hold when instances only went away', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(instance, fc.boolean()), { maxLength: 20 }), (all) => {
        const reported = all.map(([i]) => i);
        const left = all.filter(([, stays]) => stays).map(([i]) => i);
        const sized = sum(left.map((i) => i.size));
        const committed = committedMemMib(sized, report(reported));
        expect(committed).toBeGreaterThanOrEqual(sum(left.map(held)));
        expect(committed).toBeLessThanOrEqual(sized);
      }),
    );
  });

  it('stays within 0 and the sizes whatever the report says', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (sized, memMib, heldMemMib) => {
          const c = committedMemMib(sized, { memMib, heldMemMib });
          expect(c).toBeGreaterThanOrEqual(0);
          expect(c).toBeLessThanOrEqual(sized);
        },
      ),
    );
  });
});
