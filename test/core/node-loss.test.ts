import { describe, expect, it } from 'vitest';
import {
  heartbeatOverdue,
  movedReason,
  pinnedReason,
  planNodeLoss,
  recoveredStatus,
} from '../../src/core/node-loss.ts';
import { instance, node, pool } from '../db/fixtures.ts';

const at = (iso: string) => new Date(iso);
const START = at('2025-01-01T00:00:00.000Z');

describe('heartbeatOverdue', () => {
  const heard = node('n', { lastHeartbeat: '2025-01-01T00:10:00.000Z' });

  it('is true only for a ready or cordoned node silent for longer than the timeout', () => {
    expect(heartbeatOverdue(heard, at('2025-01-01T00:10:30.000Z'), 30_000, START)).toBe(false);
    expect(heartbeatOverdue(heard, at('2025-01-01T00:10:30.001Z'), 30_000, START)).toBe(true);
    const late = at('2025-01-01T01:00:00.000Z');
    expect(heartbeatOverdue({ ...heard, status: 'lost' }, late, 30_000, START)).toBe(false);
    // A cordoned node falls silent like any other: it is lost too.
    const cordoned = { ...heard, status: 'cordoned' as const };
    expect(heartbeatOverdue(cordoned, at('2025-01-01T00:10:30.000Z'), 30_000, START)).toBe(false);
    expect(heartbeatOverdue(cordoned, late, 30_000, START)).toBe(true);
  });

  it('brings a lost node back as it was: cordoned stays cordoned', () => {
    expect(recoveredStatus({ lostFrom: 'cordoned' })).toBe('cordoned');
    expect(recoveredStatus({ lostFrom: 'ready' })).toBe('ready');
    expect(recoveredStatus({})).toBe('ready');
  });

  it('gives every node a full timeout after the watcher starts, and counts from creation before any heartbeat', () => {
    const restarted = at('2025-01-01T00:59:50.000Z');
    expect(heartbeatOverdue(heard, at('2025-01-01T01:00:00.000Z'), 30_000, restarted)).toBe(false);
    expect(heartbeatOverdue(heard, at('2025-01-01T01:00:20.001Z'), 30_000, restarted)).toBe(true);
    const silent = node('n', { lastHeartbeat: null, createdAt: '2025-01-01T00:00:10.000Z' });
    expect(heartbeatOverdue(silent, at('2025-01-01T00:00:40.000Z'), 30_000, START)).toBe(false);
    expect(heartbeatOverdue(silent, at('2025-01-01T00:00:40.001Z'), 30_000, START)).toBe(true);
  });
});

describe('planNodeLoss', () => {
  const pools = [
    pool('acme', 'workers', { critical: false, pinned: false }),
    pool('acme', 'gates', { critical: true, pinned: false }),
    pool('acme', 'db', { critical: false, pinned: true }),
  ];
  const on = (id: string, host: number, poolId: string, overrides = {}) =>
    instance(id, host, { poolId, nodeId: 'n1', status: 'running', ...overrides });

  it('moves instances (critical pools first), leaves pinned ones waiting, forgets destroyed ones', () => {
    const plan = planNodeLoss(
      'n1',
      [
        on('w-1', 10, 'workers', { status: 'sleeping', desiredStatus: 'sleeping' }),
        on('g-1', 11, 'gates', { status: 'warm', desiredStatus: 'warm' }),
        on('d-1', 12, 'db'),
        on('w-2', 13, 'workers', { desiredStatus: 'destroyed' }),
        instance('w-3', 14, { nodeId: 'n2', status: 'running' }),
      ],
      pools,
    );
    expect(plan.map((a) => [a.kind, a.instance.id])).toEqual([
      ['move', 'g-1'],
      ['move', 'w-1'],
      ['wait', 'd-1'],
      ['forget', 'w-2'],
    ]);
    expect(plan[0]).toMatchObject({ reason: movedReason('n1', 'warm') });
    expect(plan[2]).toMatchObject({ reason: pinnedReason('n1') });
  });

  it('says in the reason which node was lost and what state stayed there', () => {
    expect(movedReason('n1', 'running')).toBe(
      'rescheduled from lost node n1; its running state (RAM and data disk) was on that node',
    );
    expect(movedReason('n1', 'sleeping')).toMatch(/its sleeping state \(snapshot and data disk\)/);
    expect(movedReason('n1', 'stopped')).toMatch(/its stopped state \(data disk\)/);
    expect(pinnedReason('n1')).toBe('node n1 lost; pinned pool waits for its node');
  });
});
