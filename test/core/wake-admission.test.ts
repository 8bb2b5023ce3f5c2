import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  desiredWhileUnreported,
  localAdmission,
  type LocalHolder,
} from '../../src/core/wake-admission.ts';

const vm = (key: string, vcpus: number, memMib = 256): LocalHolder => ({ key, vcpus, memMib });

describe('a wake the node admits by its own count (coordinator unanswered)', () => {
  it('admits only within its capacity, counting what runs and what it admitted unreported', () => {
    const capacity = { vcpus: 4, memMib: 2048 };
    const wanted = vm('w', 1);
    expect(
      localAdmission({ capacity, holding: [vm('a', 2)], unreported: [vm('b', 1)] }, wanted),
    ).toEqual({ admitted: true });
    const full = localAdmission(
      { capacity, holding: [vm('a', 2)], unreported: [vm('b', 2)] },
      wanted,
    );
    expect(full.admitted).toBe(false);
    if (!full.admitted) expect(full.reason).toMatch(/5 of 4 vCPUs/);
    // Memory counts as much as vCPUs.
    expect(
      localAdmission({ capacity, holding: [vm('a', 1, 1900)], unreported: [] }, wanted).admitted,
    ).toBe(false);
  });

  it('counts a VM once when it is both running and unreported, and never counts the wanted one twice', () => {
    const capacity = { vcpus: 2, memMib: 4096 };
    const b = vm('b', 1);
    expect(localAdmission({ capacity, holding: [b], unreported: [b] }, vm('w', 1))).toEqual({
      admitted: true,
    });
    expect(localAdmission({ capacity, holding: [vm('w', 1)], unreported: [] }, vm('w', 2))).toEqual(
      { admitted: true },
    );
  });

  it('admitting one at a time never goes beyond the capacity', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 12 }),
        (cap, running, wakes) => {
          const capacity = { vcpus: cap, memMib: 1 << 20 };
          const holding = running.map((v, n) => vm(`r${n}`, v));
          const unreported: LocalHolder[] = [];
          for (const [n, v] of wakes.entries()) {
            const w = vm(`w${n}`, v);
            if (localAdmission({ capacity, holding, unreported }, w).admitted) unreported.push(w);
          }
          const base = running.reduce((a, b) => a + b, 0);
          const added = unreported.reduce((a, w) => a + w.vcpus, 0);
          if (unreported.length > 0) expect(base + added).toBeLessThanOrEqual(cap);
        },
      ),
    );
  });
});

describe('a wake admitted locally and unreported', () => {
  it('stays running whatever the older document lowers it to; stop and destroy still win', () => {
    expect(desiredWhileUnreported('sleeping', true)).toBe('running');
    expect(desiredWhileUnreported('warm', true)).toBe('running');
    expect(desiredWhileUnreported('stopped', true)).toBe('stopped');
    expect(desiredWhileUnreported('destroyed', true)).toBe('destroyed');
    expect(desiredWhileUnreported('sleeping', false)).toBe('sleeping');
  });
});
