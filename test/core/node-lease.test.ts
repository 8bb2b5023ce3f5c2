import { describe, expect, it } from 'vitest';
import {
  fenceMarginMs,
  fencePlan,
  leaseFor,
  leaseState,
  type LeaseFacts,
} from '../../src/core/node-lease.ts';
import { DEFAULT_NODE_LOST_AFTER_MS, heartbeatOverdue } from '../../src/core/node-loss.ts';
import { plan } from '../../src/core/reconcile-plan.ts';
import type { InstanceStatus } from '../../src/core/model.ts';
import { node } from '../db/fixtures.ts';

describe('leaseFor and fenceMarginMs', () => {
  it('grants a lease that ends a full margin before the coordinator may move anything', () => {
    expect(leaseFor(DEFAULT_NODE_LOST_AFTER_MS)).toBe(20_000);
    expect(fenceMarginMs(DEFAULT_NODE_LOST_AFTER_MS)).toBe(10_000);
    for (const lostAfter of [100, 1_000, 9_000, 30_000, 86_400_000]) {
      const lease = leaseFor(lostAfter);
      expect(lease).toBeGreaterThan(0);
      expect(lease + fenceMarginMs(lostAfter)).toBeLessThanOrEqual(lostAfter);
      // A node heard at t is not lost at t + lease + margin - 1 (nor any time before).
      const heard = node('n', { lastHeartbeat: '2026-01-01T00:00:00.000Z' });
      const t = Date.parse('2026-01-01T00:00:00.000Z');
      const edge = new Date(t + lease + fenceMarginMs(lostAfter) - 1);
      expect(heartbeatOverdue(heard, edge, lostAfter, new Date(t))).toBe(false);
    }
  });
});

describe('leaseState', () => {
  const facts = (over: Partial<LeaseFacts>): LeaseFacts => ({
    now: 10_000,
    startedAt: 0,
    leaseMs: 5_000,
    documentGeneration: 3,
    ...over,
  });

  it('is unconfirmed from the start until a renewal, and expires a lease after start without one', () => {
    expect(leaseState(facts({ now: 4_000 }))).toBe('unconfirmed');
    expect(leaseState(facts({ now: 5_000 }))).toBe('unconfirmed');
    expect(leaseState(facts({ now: 5_001 }))).toBe('expired');
  });

  it('is held within the lease of the last renewal, expired one ms after', () => {
    expect(leaseState(facts({ renewedAt: 6_000, issuedGeneration: 3 }))).toBe('held');
    expect(leaseState(facts({ renewedAt: 5_000, issuedGeneration: 3 }))).toBe('held');
    expect(leaseState(facts({ renewedAt: 4_999, issuedGeneration: 3 }))).toBe('expired');
  });

  it('stays unconfirmed after a renewal until the document issued with it is held', () => {
    expect(leaseState(facts({ renewedAt: 9_000, issuedGeneration: 4 }))).toBe('unconfirmed');
    expect(
      leaseState(facts({ renewedAt: 9_000, issuedGeneration: 4, documentGeneration: 4 })),
    ).toBe('held');
    expect(leaseState(facts({ renewedAt: 9_000 }))).toBe('held');
  });
});

describe('fencePlan', () => {
  const observed = new Map<string, InstanceStatus>([
    ['t/web/run', 'running'],
    ['t/web/warm', 'warm'],
    ['t/web/asleep', 'sleeping'],
    ['t/web/gone', 'running'],
    ['t/db/pinned', 'warm'],
    ['t/web/stopping', 'running'],
  ]);
  const desired = [
    { instance: 't/web/run', role: 'worker' as const, status: 'running' as const },
    { instance: 't/web/warm', role: 'worker' as const, status: 'running' as const },
    { instance: 't/web/asleep', role: 'worker' as const, status: 'running' as const },
    { instance: 't/web/new', role: 'worker' as const, status: 'running' as const },
    { instance: 't/db/pinned', role: 'worker' as const, status: 'running' as const },
    { instance: 't/web/stopping', role: 'worker' as const, status: 'stopped' as const },
  ];
  const seen = [...observed].map(([instance, status]) => ({
    instance,
    role: 'worker' as const,
    status,
    specCurrent: true,
  }));
  const replaceable = new Set([...desired.map((d) => d.instance), 't/web/gone']);
  replaceable.delete('t/db/pinned');
  const planned = plan(desired, seen);
  const kinds = (steps: { instance: string; kind: string }[]) =>
    steps.map((s) => `${s.instance}:${s.kind}`).sort();

  it('leaves the plan alone while the lease is held', () => {
    expect(fencePlan(planned, observed, replaceable, 'held')).toEqual({
      plan: planned,
      held: [],
      paused: [],
    });
  });

  it('unconfirmed: brings nothing re-placeable up, pauses nothing, still takes things down', () => {
    const { plan: fenced, held, paused } = fencePlan(planned, observed, replaceable, 'unconfirmed');
    expect(kinds(fenced.steps)).toEqual([
      't/db/pinned:resume',
      't/web/gone:destroy',
      't/web/stopping:stop',
    ]);
    expect(held).toEqual(['t/web/asleep', 't/web/new', 't/web/warm']);
    expect(paused).toEqual([]);
  });

  it('expired: also pauses every running re-placeable instance that is not being taken down', () => {
    const { plan: fenced, held, paused } = fencePlan(planned, observed, replaceable, 'expired');
    expect(kinds(fenced.steps)).toEqual([
      't/db/pinned:resume',
      't/web/gone:destroy',
      't/web/run:pause',
      't/web/stopping:stop',
    ]);
    expect(fenced.steps.find((s) => s.instance === 't/web/run')).toEqual({
      kind: 'pause',
      instance: 't/web/run',
      from: 'running',
      to: 'warm',
    });
    expect(held).toEqual(['t/web/asleep', 't/web/new', 't/web/warm']);
    expect(paused).toEqual(['t/web/run']);
  });
});
