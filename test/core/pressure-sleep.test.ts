import { describe, expect, it } from 'vitest';
import {
  isSleepCandidate,
  planPressure,
  type PressureInput,
  type PressureInstance,
  type PressureNode,
} from '../../src/core/pressure-sleep.ts';

const NOW = Date.parse('2026-01-01T12:00:00.000Z');
const ago = (secs: number) => new Date(NOW - secs * 1000).toISOString();

const node = (id: string, vcpus = 2, memMib = 2048): PressureNode => ({ id, vcpus, memMib });

/** A warm, idle instance of a plain pool on `nodeId`, 1 vCPU and 1 GiB. */
const warm = (key: string, nodeId: string, extra: Partial<PressureInstance> = {}) => ({
  key,
  nodeId,
  vcpus: 1,
  memMib: 1024,
  status: 'warm' as const,
  desiredStatus: 'warm' as const,
  statusSince: ago(3600),
  lastActiveAt: null,
  pressureSleptAt: null,
  critical: false,
  pinned: false,
  minWarmSecs: 0,
  ...extra,
});

/** An instance placement could not place. */
const pending = (key: string, extra: Partial<PressureInstance> = {}) =>
  warm(key, '', {
    nodeId: null,
    status: 'created',
    desiredStatus: 'running',
    statusSince: null,
    critical: true,
    ...extra,
  });

function plan(nodes: PressureNode[], instances: PressureInstance[], unplaced?: string[]) {
  const input: PressureInput = {
    nodes,
    instances,
    unplaced: unplaced ?? instances.filter((i) => i.nodeId === null).map((i) => i.key),
    nowMs: NOW,
  };
  return planPressure(input);
}

/** Applies a plan the way the scheduler does, for the next run. */
function apply(instances: PressureInstance[], result: ReturnType<typeof planPressure>) {
  return instances.map((i) => {
    const placed = result.placed.find((p) => p.key === i.key);
    if (placed) return { ...i, nodeId: placed.nodeId };
    if (result.sleep.some((s) => s.key === i.key)) {
      return { ...i, desiredStatus: 'sleeping' as const, pressureSleptAt: ago(0) };
    }
    if (result.release.some((r) => r.key === i.key)) {
      return { ...i, desiredStatus: 'warm' as const, pressureSleptAt: null };
    }
    return i;
  });
}

describe('planPressure relief', () => {
  it('sleeps the coldest warm instance of the node, never active first', () => {
    const result = plan(
      [node('n1')],
      [warm('a/hot', 'n1', { lastActiveAt: ago(10) }), warm('a/never', 'n1'), pending('b/p')],
    );
    expect(result.sleep).toEqual([{ key: 'a/never', nodeId: 'n1', madeRoomFor: 'b/p' }]);
    expect(result.placed).toEqual([{ key: 'b/p', nodeId: 'n1' }]);
    expect(result.release).toEqual([]);
  });

  it('goes by last activity among active ones, then by key', () => {
    const result = plan(
      [node('n1')],
      [
        warm('a/2', 'n1', { lastActiveAt: ago(100) }),
        warm('a/1', 'n1', { lastActiveAt: ago(100) }),
        pending('b/p'),
      ],
    );
    expect(result.sleep.map((s) => s.key)).toEqual(['a/1']);
    const older = plan(
      [node('n1')],
      [
        warm('a/1', 'n1', { lastActiveAt: ago(5) }),
        warm('a/2', 'n1', { lastActiveAt: ago(50) }),
      ].concat(pending('b/p')),
    );
    expect(older.sleep.map((s) => s.key)).toEqual(['a/2']);
  });

  it('never picks critical or pinned pools, nor instances not settled warm', () => {
    const exempt = [
      warm('crit/1', 'n1', { critical: true }),
      warm('pin/1', 'n1', { pinned: true }),
    ];
    expect(plan([node('n1')], [...exempt, pending('b/p')]).sleep).toEqual([]);
    const unsettled = [
      warm('a/waking', 'n1', { status: 'sleeping' }),
      warm('a/running', 'n1', { status: 'running', desiredStatus: 'running' }),
    ];
    const result = plan([node('n1')], [...unsettled, pending('b/p')]);
    expect(result).toEqual({ placed: [], sleep: [], release: [] });
  });

  it('respects the pool minimum warm time; a null statusSince counts as long ago', () => {
    const fresh = warm('a/fresh', 'n1', { minWarmSecs: 600, statusSince: ago(599) });
    const due = warm('a/due', 'n1', { minWarmSecs: 600, statusSince: ago(600) });
    const old = warm('a/old', 'n1', { minWarmSecs: 600, statusSince: null });
    expect(isSleepCandidate(fresh, NOW)).toBe(false);
    expect(isSleepCandidate(due, NOW)).toBe(true);
    expect(isSleepCandidate(old, NOW)).toBe(true);
    const result = plan(
      [node('n1')],
      [{ ...fresh, lastActiveAt: null }, pending('b/p')].concat(
        warm('a/busy', 'n1', { lastActiveAt: ago(1) }),
      ),
    );
    expect(result.sleep.map((s) => s.key)).toEqual(['a/busy']);
  });

  it('prefers the node needing the fewest victims, then the lowest node id', () => {
    const big = pending('b/p', { vcpus: 2, memMib: 2048 });
    const fewest = plan(
      [node('n1'), node('n2')],
      [
        warm('a/1', 'n1'),
        warm('a/2', 'n1'),
        warm('a/3', 'n2'),
        warm('c/1', 'n2', { critical: true, vcpus: 0, memMib: 0 }),
        big,
      ],
    );
    // n2 has one candidate and an exempt instance holding nothing; n1 needs two victims.
    expect(fewest.sleep).toEqual([{ key: 'a/3', nodeId: 'n2', madeRoomFor: 'b/p' }]);
    const small = [node('n2', 1, 1024), node('n1', 1, 1024)];
    const tie = plan(small, [warm('a/1', 'n2'), warm('a/2', 'n1'), pending('b/p')]);
    expect(tie.placed).toEqual([{ key: 'b/p', nodeId: 'n1' }]);
  });

  it('spares a victim that would fit beside the pending instance', () => {
    const result = plan(
      [node('n1', 4, 5120)],
      [
        warm('a/small', 'n1', { vcpus: 1, memMib: 1024 }),
        warm('a/big', 'n1', { vcpus: 2, memMib: 4096, lastActiveAt: ago(1) }),
        pending('b/p', { vcpus: 2, memMib: 4096 }),
      ],
    );
    expect(result.sleep.map((s) => s.key)).toEqual(['a/big']);
    expect(result.release).toEqual([]);
  });

  it('does nothing when even sleeping every candidate leaves no room', () => {
    const result = plan(
      [node('n1')],
      [warm('a/1', 'n1'), warm('crit/1', 'n1', { critical: true }), pending('b/p', { vcpus: 2 })],
    );
    expect(result).toEqual({ placed: [], sleep: [], release: [] });
    const tooBig = plan([node('n1')], [warm('a/1', 'n1'), pending('b/p', { memMib: 4096 })]);
    expect(tooBig).toEqual({ placed: [], sleep: [], release: [] });
  });

  it('serves pending instances in the given order and never reuses a victim', () => {
    const result = plan(
      [node('n1', 1, 1024)],
      [warm('a/1', 'n1'), pending('b/1'), pending('b/2'), pending('b/3')],
      ['b/2', 'b/1', 'b/3'],
    );
    expect(result.placed).toEqual([{ key: 'b/2', nodeId: 'n1' }]);
    expect(result.sleep).toEqual([{ key: 'a/1', nodeId: 'n1', madeRoomFor: 'b/2' }]);
  });

  it('leaves pending instances that hold no RAM alone', () => {
    const result = plan(
      [node('n1')],
      [warm('a/1', 'n1'), pending('b/s', { desiredStatus: 'sleeping' })],
    );
    expect(result.sleep).toEqual([]);
  });
});

describe('planPressure release', () => {
  const held = (key: string, nodeId: string, at = ago(60)) =>
    warm(key, nodeId, { status: 'sleeping', desiredStatus: 'sleeping', pressureSleptAt: at });

  it('wakes a held instance once its node has room, oldest marker first', () => {
    const result = plan(
      [node('n1', 2, 2048)],
      [held('a/new', 'n1', ago(10)), held('a/old', 'n1', ago(100)), warm('x/1', 'n1')],
    );
    expect(result.release).toEqual([{ key: 'a/old', nodeId: 'n1', to: 'warm' }]);
  });

  it('does not wake one while its room is taken', () => {
    const busy = plan([node('n1')], [held('a/1', 'n1'), warm('b/1', 'n1'), warm('b/2', 'n1')]);
    expect(busy.release).toEqual([]);
  });

  it("counts memory as placement does: the node's report credits what its instances did not hold", () => {
    const instances = [held('a/1', 'n1'), warm('b/1', 'n1'), warm('b/2', 'n1')];
    // By size the node is full (2 GiB of 2 GiB warm): nothing comes back.
    expect(plan([node('n1', 4, 2048)], instances).release).toEqual([]);
    // Its last report says the two warm guests hold 1 GiB together: 1 GiB is free.
    const reported = { ...node('n1', 4, 2048), memReport: { memMib: 2048, heldMemMib: 1024 } };
    expect(plan([reported], instances).release).toEqual([{ key: 'a/1', nodeId: 'n1', to: 'warm' }]);
    // A report without a held figure (an older agent) counts by size.
    const sized = { ...node('n1', 4, 2048), memReport: { memMib: 2048 } };
    expect(plan([sized], instances).release).toEqual([]);
  });

  it('credits a sleeping victim only what its sleep takes out of the committed figure', () => {
    // 4 GiB node, four 1 GiB warm guests reported holding 3 GiB: 1 GiB free. A pending 2 GiB
    // instance needs two sleeps by size; the report's credit may belong to the ones that go,
    // so it is not counted twice: two victims still.
    const reported = { ...node('n1', 8, 4096), memReport: { memMib: 4096, heldMemMib: 3072 } };
    const result = plan(
      [reported],
      [
        warm('a/1', 'n1'),
        warm('a/2', 'n1'),
        warm('a/3', 'n1'),
        warm('a/4', 'n1'),
        pending('b/p', { memMib: 2048 }),
      ],
    );
    expect(result.placed).toEqual([{ key: 'b/p', nodeId: 'n1' }]);
    expect(result.sleep).toHaveLength(2);
  });

  it('does not flap over repeated runs', () => {
    let instances: PressureInstance[] = [
      warm('a/1', 'n1'),
      warm('a/2', 'n1', { lastActiveAt: ago(5) }),
      pending('b/p'),
    ];
    const first = plan([node('n1')], instances);
    expect(first.sleep.map((s) => s.key)).toEqual(['a/1']);
    instances = apply(instances, first);
    for (let run = 0; run < 3; run += 1) {
      const again = plan([node('n1')], instances);
      expect(again).toEqual({ placed: [], sleep: [], release: [] });
      instances = apply(instances, again);
    }
    // The pending instance goes away: the held one comes back, once.
    instances = instances.filter((i) => i.key !== 'b/p');
    const back = plan([node('n1')], instances);
    expect(back.release).toEqual([{ key: 'a/1', nodeId: 'n1', to: 'warm' }]);
    instances = apply(instances, back);
    expect(plan([node('n1')], instances)).toEqual({ placed: [], sleep: [], release: [] });
  });
});
