import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  admitRaises,
  isRaise,
  type RaiseRequest,
  type RoomNode,
} from '../../src/core/raise-room.ts';

const node = (
  id: string,
  vcpus: number,
  memMib: number,
  held = { vcpus: 0, memMib: 0 },
): RoomNode => ({
  id,
  vcpus,
  memMib,
  heldVcpus: held.vcpus,
  heldMemMib: held.memMib,
});
const raise = (
  key: string,
  nodeId: string,
  vcpus = 1,
  memMib = 256,
  critical = false,
): RaiseRequest => ({
  key,
  nodeId,
  vcpus,
  memMib,
  to: 'running',
  critical,
});

describe('isRaise', () => {
  it('is a move from holding nothing to holding vCPUs and RAM', () => {
    expect(isRaise('sleeping', 'running')).toBe(true);
    expect(isRaise('stopped', 'warm')).toBe(true);
    expect(isRaise('warm', 'running')).toBe(false);
    expect(isRaise('running', 'sleeping')).toBe(false);
    expect(isRaise('sleeping', 'stopped')).toBe(false);
  });
});

describe('admitRaises', () => {
  it('admits what fits next to what the node held before the raises, and holds the rest', () => {
    // 4 vCPUs; 2 held by others plus the 3 raises (counted in what the store sums).
    const n = node('n1', 4, 8192, { vcpus: 5, memMib: 5 * 256 });
    const verdict = admitRaises([n], [raise('a', 'n1'), raise('b', 'n1'), raise('c', 'n1')]);
    expect(verdict.admitted.map((r) => r.key)).toEqual(['a', 'b']);
    expect(verdict.held.map((h) => h.request.key)).toEqual(['c']);
    expect(verdict.held[0]?.reason).toMatch(
      /node 'n1' has no room .* needs 1 vCPU and 256 MiB, .* 0 vCPU/,
    );
  });

  it('checks memory too, crediting what the last report says was not held', () => {
    const n = node('n1', 16, 1024, { vcpus: 2, memMib: 1024 + 512 });
    expect(admitRaises([n], [raise('a', 'n1', 1, 512)]).held).toHaveLength(1);
    // The node's instances (1024 MiB by size) held only 256: 768 credited, 512 fits.
    const reported = { ...n, memReport: { memMib: 1024, heldMemMib: 256 } };
    expect(admitRaises([reported], [raise('a', 'n1', 1, 512)]).admitted).toHaveLength(1);
  });

  it('serves critical raises first, and a smaller raise behind one that does not fit', () => {
    const n = node('n1', 3, 8192, { vcpus: 1 + 2 + 1 + 1, memMib: 0 });
    const verdict = admitRaises(
      [n],
      [raise('big', 'n1', 2), raise('small', 'n1', 1), raise('crit', 'n1', 1, 256, true)],
    );
    expect(verdict.admitted.map((r) => r.key)).toEqual(['crit', 'small']);
    expect(verdict.held.map((h) => h.request.key)).toEqual(['big']);
  });

  it('admits a raise on a node the store no longer has (nothing runs there)', () => {
    expect(admitRaises([], [raise('a', 'gone')]).admitted).toHaveLength(1);
  });

  it('never admits past a node capacity, whatever the raises', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.boolean()), { maxLength: 12 }),
        (others, sizes) => {
          const raises = sizes.map(([v, c], i) => raise(`r${i}`, 'n1', v, v * 128, c));
          const held = others + raises.reduce((s, r) => s + r.vcpus, 0);
          const n = node('n1', 8, 1024, { vcpus: held, memMib: held * 128 });
          const verdict = admitRaises([n], raises);
          const admitted = verdict.admitted.reduce((s, r) => s + r.vcpus, 0);
          expect(verdict.admitted.length + verdict.held.length).toBe(raises.length);
          if (others <= 8) expect(others + admitted).toBeLessThanOrEqual(8);
          // Nothing held would have fit in what is left.
          for (const h of verdict.held)
            expect(others + admitted + h.request.vcpus).toBeGreaterThan(8);
        },
      ),
    );
  });
});
