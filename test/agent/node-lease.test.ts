import { describe, expect, it } from 'vitest';
import { NodeLease } from '../../src/agent/lease/node-lease.ts';
import { leaseFor } from '../../src/core/node-lease.ts';
import { DEFAULT_NODE_LOST_AFTER_MS } from '../../src/core/node-loss.ts';
import type { Clock } from '../../src/ports/clock.ts';

/** Time that moves only when the test says so. */
class ManualClock implements Clock {
  constructor(private ms: number) {}
  now = (): Date => new Date(this.ms);
  sleep = async (): Promise<void> => {};
  advance(ms: number): void {
    this.ms += ms;
  }
}

const START = Date.parse('2026-12-03T00:00:00.000Z');

describe('NodeLease', () => {
  it('counts an unrenewed lease from the start, for the default length', () => {
    const clock = new ManualClock(START);
    const lease = new NodeLease(clock);
    expect(lease.leaseMs).toBe(leaseFor(DEFAULT_NODE_LOST_AFTER_MS));
    expect(lease.state(0)).toBe('unconfirmed');
    clock.advance(lease.leaseMs + 1);
    expect(lease.state(0)).toBe('expired');
  });

  it('runs from when the answered heartbeat was sent, for the length the answer grants', () => {
    const clock = new ManualClock(START);
    const lease = new NodeLease(clock);
    clock.advance(1_000);
    const sentAt = clock.now();
    clock.advance(2_000); // the answer took 2 s: those count against the lease
    lease.renewed(sentAt, 6_000, 7);
    expect(lease.leaseMs).toBe(6_000);
    expect(lease.checkEveryMs).toBe(600);
    expect(lease.state(6)).toBe('unconfirmed'); // the document named in the answer is not here yet
    expect(lease.state(7)).toBe('held');
    clock.advance(4_000);
    expect(lease.state(7)).toBe('held');
    clock.advance(1);
    expect(lease.state(7)).toBe('expired');
  });

  it('never moves back for a late answer, and takes the default from an answer without a lease', () => {
    const clock = new ManualClock(START);
    const lease = new NodeLease(clock, 5_000);
    const early = clock.now();
    clock.advance(3_000);
    lease.renewed(clock.now(), undefined, undefined);
    lease.renewed(early, 60_000, 1);
    expect(lease.leaseMs).toBe(5_000);
    clock.advance(5_000);
    expect(lease.state(0)).toBe('held');
    clock.advance(1);
    expect(lease.state(0)).toBe('expired');
  });
});
