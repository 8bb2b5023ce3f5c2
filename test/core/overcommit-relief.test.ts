import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { committedMemMib } from '../../src/core/held-memory.ts';
import {
  isOvercommitCandidate,
  overCapacity,
  planOvercommit,
  type OvercommitInput,
} from '../../src/core/overcommit-relief.ts';
import type { PressureInstance, PressureNode } from '../../src/core/pressure-sleep.ts';

const NOW = Date.parse('2026-01-01T12:00:00.000Z');
const ago = (secs: number) => new Date(NOW - secs * 1000).toISOString();

/** A running instance of a plain pool on `nodeId`, 1 vCPU and 1 GiB, active `secs` ago. */
const vm = (
  key: string,
  nodeId: string,
  extra: Partial<PressureInstance> = {},
): PressureInstance => ({
  key,
  nodeId,
  vcpus: 1,
  memMib: 1024,
  status: 'running',
  desiredStatus: 'running',
  statusSince: ago(3600),
  lastActiveAt: ago(60),
  pressureSleptAt: null,
  critical: false,
  pinned: false,
  minWarmSecs: 0,
  ...extra,
});

/** What each node holds by size: its instances desired running or warm. */
function loadsOf(instances: readonly PressureInstance[]): OvercommitInput['loads'] {
  const loads = new Map<string, { nodeId: string; vcpus: number; memMib: number }>();
  for (const i of instances) {
    if (i.nodeId === null || !(i.desiredStatus === 'running' || i.desiredStatus === 'warm')) {
      continue;
    }
    const load = loads.get(i.nodeId) ?? { nodeId: i.nodeId, vcpus: 0, memMib: 0 };
    load.vcpus += i.vcpus;
    load.memMib += i.memMib;
    loads.set(i.nodeId, load);
  }
  return [...loads.values()];
}

const plan = (nodes: PressureNode[], instances: PressureInstance[], spare: string[] = []) =>
  planOvercommit({ nodes, loads: loadsOf(instances), instances, spare: new Set(spare) });

describe('an overcommitted node is brought back under its capacity', () => {
  it('lowers warm before running, coldest first, and no more than needed', () => {
    const nodes = [{ id: 'n1', vcpus: 3, memMib: 65536 }];
    const instances = [
      vm('a', 'n1', { lastActiveAt: ago(10) }),
      vm('b', 'n1', { lastActiveAt: ago(500) }),
      vm('c', 'n1', { lastActiveAt: null }),
      vm('w', 'n1', { desiredStatus: 'warm', status: 'warm', lastActiveAt: ago(1) }),
      vm('x', 'n1', { vcpus: 0, memMib: 0, critical: true }),
    ];
    // 4 vCPUs held on 3: one to lower, the warm one although it is the hottest.
    expect(plan(nodes, instances).lower).toEqual([{ key: 'w', nodeId: 'n1', slot: 'warm' }]);
    // 5 on 3: the warm one, then the coldest running one (never active).
    const more = [...instances, vm('d', 'n1', { lastActiveAt: ago(5) })];
    expect(plan(nodes, more).lower.map((l) => l.key)).toEqual(['w', 'c']);
    expect(plan(nodes, more).relieved).toEqual([
      { nodeId: 'n1', overVcpus: 2, overMemMib: -60416 },
    ]);
  });

  it('spares a wake just admitted when another will do, and lowers it when none will', () => {
    const nodes = [{ id: 'n1', vcpus: 1, memMib: 65536 }];
    const woken = vm('woken', 'n1', { lastActiveAt: null });
    const other = vm('other', 'n1', { lastActiveAt: ago(1) });
    expect(plan(nodes, [woken, other], ['woken']).lower.map((l) => l.key)).toEqual(['other']);
    expect(plan(nodes, [woken, other]).lower.map((l) => l.key)).toEqual(['woken']);
    const critical = { ...other, critical: true };
    expect(plan(nodes, [woken, critical], ['woken']).lower.map((l) => l.key)).toEqual(['woken']);
  });

  it('spares a victim that fits again once a bigger one is lowered', () => {
    const nodes = [{ id: 'n1', vcpus: 4, memMib: 65536 }];
    const instances = [
      vm('small', 'n1', { lastActiveAt: null }),
      vm('big', 'n1', { vcpus: 3, lastActiveAt: ago(100) }),
      vm('keep', 'n1', { vcpus: 2, lastActiveAt: ago(1) }),
    ];
    // 6 on 4: coldest first takes `small`, then `big`; `small` fits back.
    expect(plan(nodes, instances).lower.map((l) => l.key)).toEqual(['big']);
  });

  it('counts memory as placement does (the last report credit), and leaves a node it cannot help', () => {
    const report = { memMib: 2048, heldMemMib: 512 };
    const credited = [{ id: 'n1', vcpus: 8, memMib: 1536, memReport: report }];
    const two = [vm('a', 'n1'), vm('b', 'n1')];
    // 2,048 MiB by size, 512 held: under 1,536 as placement counts it.
    expect(overCapacity(credited, loadsOf(two))).toEqual([]);
    expect(plan(credited, two).lower).toEqual([]);
    const pinned = [vm('p', 'n1', { pinned: true, vcpus: 2 }), vm('q', 'n1', { critical: true })];
    const small = [{ id: 'n1', vcpus: 2, memMib: 65536 }];
    expect(plan(small, pinned)).toEqual({
      lower: [],
      relieved: [],
      stuck: [{ nodeId: 'n1', overVcpus: 1, overMemMib: -63488 }],
    });
  });

  it('on random fleets: no node stays over when lowering can help, nothing is lowered on a node under capacity, and no more than needed', () => {
    const instance = (nodes: number) =>
      fc.record({
        node: fc.integer({ min: 0, max: nodes - 1 }),
        vcpus: fc.integer({ min: 0, max: 4 }),
        memMib: fc.integer({ min: 0, max: 4096 }),
        desiredStatus: fc.constantFrom('running', 'warm', 'sleeping', 'stopped') as fc.Arbitrary<
          PressureInstance['desiredStatus']
        >,
        active: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
        critical: fc.boolean(),
        pinned: fc.boolean(),
        spare: fc.boolean(),
      });
    const fleet = fc.integer({ min: 1, max: 5 }).chain((count) =>
      fc.record({
        nodes: fc.array(
          fc.record({
            vcpus: fc.integer({ min: 0, max: 12 }),
            memMib: fc.integer({ min: 0, max: 16384 }),
            credit: fc.option(fc.integer({ min: 0, max: 4096 }), { nil: null }),
          }),
          { minLength: count, maxLength: count },
        ),
        instances: fc.array(instance(count), { maxLength: 30 }),
      }),
    );
    fc.assert(
      fc.property(fleet, ({ nodes: specs, instances: drawn }) => {
        const nodes: PressureNode[] = specs.map((s, n) => ({
          id: `n${n}`,
          vcpus: s.vcpus,
          memMib: s.memMib,
          memReport:
            s.credit === null ? null : { memMib: s.credit, heldMemMib: Math.floor(s.credit / 3) },
        }));
        const instances = drawn.map((d, n) =>
          vm(`i${n}`, `n${d.node}`, {
            vcpus: d.vcpus,
            memMib: d.memMib,
            desiredStatus: d.desiredStatus,
            status: d.desiredStatus === 'warm' ? 'warm' : 'running',
            lastActiveAt: d.active === null ? null : ago(d.active),
            critical: d.critical,
            pinned: d.pinned,
          }),
        );
        const spare = new Set(drawn.flatMap((d, n) => (d.spare ? [`i${n}`] : [])));
        const loads = loadsOf(instances);
        const result = planOvercommit({ nodes, loads, instances, spare });
        const lowered = new Set(result.lower.map((l) => l.key));
        const over = new Set(overCapacity(nodes, loads).map((o) => o.nodeId));
        const fits = (node: PressureNode, kept: readonly PressureInstance[]) => {
          const held = loadsOf(kept)[0] ?? { vcpus: 0, memMib: 0 };
          return (
            held.vcpus <= node.vcpus && committedMemMib(held.memMib, node.memReport) <= node.memMib
          );
        };
        for (const node of nodes) {
          const mine = instances.filter((i) => i.nodeId === node.id);
          const kept = mine.filter((i) => !lowered.has(i.key));
          const victims = mine.filter((i) => lowered.has(i.key));
          const candidates = mine.filter(isOvercommitCandidate);
          if (!over.has(node.id)) {
            expect(victims).toEqual([]);
            continue;
          }
          const helpable = fits(
            node,
            mine.filter((i) => !candidates.includes(i)),
          );
          expect(fits(node, kept)).toBe(helpable);
          if (!helpable) expect(victims).toEqual([]);
          for (const v of victims) {
            expect(isOvercommitCandidate(v)).toBe(true);
            // No more than needed: putting any one victim back would overcommit again.
            expect(fits(node, [...kept, v])).toBe(false);
            // A wake just admitted goes only where the others could not make room.
            if (spare.has(v.key)) {
              const others = candidates.filter((c) => !spare.has(c.key));
              expect(
                fits(
                  node,
                  mine.filter((i) => !others.includes(i)),
                ),
              ).toBe(false);
            }
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
