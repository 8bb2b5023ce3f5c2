import { describe, expect, it } from 'vitest';
import {
  placeInstances,
  type PlacementNode,
  type PlacementRequest,
} from '../../src/core/placement.ts';

const node = (id: string, vcpus = 4, memMib = 4096): PlacementNode => ({
  id,
  vcpus,
  memMib,
  usedVcpus: 0,
  usedMemMib: 0,
  poolCounts: {},
});
const req = (
  key: string,
  desiredStatus: PlacementRequest['desiredStatus'] = 'running',
): PlacementRequest => ({
  key,
  pool: 't/p',
  vcpus: 2,
  memMib: 1024,
  desiredStatus,
});

describe('placeInstances', () => {
  it('spreads a pool across nodes', () => {
    const result = placeInstances([node('a'), node('b')], [req('1'), req('2'), req('3'), req('4')]);
    const perNode = result.placed.reduce<Record<string, number>>(
      (acc, p) => ({ ...acc, [p.nodeId]: (acc[p.nodeId] ?? 0) + 1 }),
      {},
    );
    expect(perNode).toEqual({ a: 2, b: 2 });
    expect(result.unplaced).toEqual([]);
  });

  it('refuses what does not fit, with a reason, and counts sleeping instances as free', () => {
    const result = placeInstances([node('a', 2, 2048)], [req('1'), req('2'), req('3', 'sleeping')]);
    expect(result.placed.map((p) => p.key)).toEqual(['1', '3']);
    expect(result.unplaced).toEqual([{ key: '2', reason: 'no node has 2 vCPU and 1024 MiB free' }]);
  });

  it('gives scarce room to critical pools first, keeping the order otherwise', () => {
    const critical = (key: string): PlacementRequest => ({ ...req(key), critical: true });
    const result = placeInstances(
      [node('a', 4, 4096)],
      [req('1'), critical('2'), req('3'), critical('4')],
    );
    expect(result.placed.map((p) => p.key)).toEqual(['2', '4']);
    expect(result.unplaced.map((u) => u.key)).toEqual(['1', '3']);
  });

  it('says when there are no nodes, and is deterministic', () => {
    expect(placeInstances([], [req('1')]).unplaced[0]?.reason).toBe('no nodes are registered');
    const nodes = [node('b'), node('a')];
    expect(placeInstances(nodes, [req('1')])).toEqual(
      placeInstances([...nodes].reverse(), [req('1')]),
    );
    expect(placeInstances(nodes, [req('1')]).placed[0]?.nodeId).toBe('a');
  });
});
