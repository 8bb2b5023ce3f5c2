import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { desiredAfterMove } from '../../src/core/instance-move.ts';
import { heldDuringMove, holdMoving } from '../../src/core/move-hold.ts';
import { statusHeight } from '../../src/core/materializer.ts';

const desired = ['running', 'warm', 'sleeping', 'stopped', 'destroyed'] as const;
const observed = ['running', 'warm', 'sleeping', 'stopped', 'created'] as const;

describe('holding a moving instance asleep on its source', () => {
  it('never tells the source more than asleep, and never raises what it is told', () => {
    fc.assert(
      fc.property(fc.constantFrom(...desired), fc.constantFrom(...observed), (d, s) => {
        const held = heldDuringMove({ desiredStatus: d, status: s as never });
        expect(statusHeight[held]).toBeLessThanOrEqual(statusHeight.sleeping);
        expect(statusHeight[held]).toBeLessThanOrEqual(statusHeight[d]);
        if (s === 'stopped') expect(statusHeight[held]).toBe(statusHeight.stopped);
        else if (statusHeight[d] <= statusHeight.sleeping) expect(held).toBe(d);
      }),
    );
  });

  it('a stopped instance raised during its move stays stopped, a sleeping one asleep', () => {
    expect(heldDuringMove({ desiredStatus: 'running', status: 'stopped' })).toBe('stopped');
    expect(heldDuringMove({ desiredStatus: 'sleeping', status: 'stopped' })).toBe('stopped');
    expect(heldDuringMove({ desiredStatus: 'destroyed', status: 'stopped' })).toBe('destroyed');
    expect(heldDuringMove({ desiredStatus: 'warm', status: 'sleeping' })).toBe('sleeping');
    // A drained running instance not slept yet: held to the sleep the drain asked for.
    expect(heldDuringMove({ desiredStatus: 'running', status: 'running' })).toBe('sleeping');
  });

  it('holds only instances the node is the source of a move under way of', () => {
    const i = (id: string, nodeId: string) => ({
      tenantId: 'acme',
      poolId: 'ci',
      id,
      nodeId,
      status: 'sleeping' as const,
      desiredStatus: 'running' as const,
    });
    const move = (instanceId: string, step: 'transferring' | 'failed' | 'done') => ({
      tenantId: 'acme',
      poolId: 'ci',
      instanceId,
      sourceNode: 'node-1',
      step,
    });
    const held = holdMoving(
      [i('a', 'node-1'), i('b', 'node-1'), i('c', 'node-1'), i('d', 'node-2')],
      [move('a', 'transferring'), move('b', 'failed'), move('d', 'transferring')],
    );
    expect(held.map((h) => h.desiredStatus)).toEqual(['sleeping', 'running', 'running', 'running']);
  });
});

describe('the status a move brings an instance back to', () => {
  it('a wake decided during a drain is not lowered by the restore', () => {
    expect(desiredAfterMove({ wake: true, restore: 'warm' }, 'running')).toBe('running');
    expect(desiredAfterMove({ wake: true, restore: 'warm' }, 'sleeping')).toBe('warm');
    expect(desiredAfterMove({ wake: true, restore: 'running' }, 'warm')).toBe('running');
    expect(desiredAfterMove({ wake: false, restore: null }, 'warm')).toBe('warm');
  });
});
