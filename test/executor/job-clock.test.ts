import { describe, expect, it } from 'vitest';
import { jobClock } from '../../src/executor/job-clock.ts';

describe('jobClock', () => {
  it("runs on from the claim's startedAt by monotonic time; a wall clock jump changes nothing", () => {
    let mono = 1_000;
    let wall = Date.parse('2026-01-01T00:00:00Z');
    const clock = jobClock(
      '2026-06-01T12:00:00.000Z',
      () => mono,
      () => wall,
    );
    expect(new Date(clock.now()).toISOString()).toBe('2026-06-01T12:00:00.000Z');
    mono += 2_500;
    wall += 3_600_000; // the guest's clock caught up by an hour (a wake's clock set)
    expect(new Date(clock.now()).toISOString()).toBe('2026-06-01T12:00:02.500Z');
    wall -= 7_200_000;
    mono += 500;
    expect(new Date(clock.now()).toISOString()).toBe('2026-06-01T12:00:03.000Z');
  });

  it('falls back to the wall clock without a usable startedAt', () => {
    const wall = () => 42;
    expect(jobClock(null, () => 0, wall).now()).toBe(42);
    expect(jobClock('not a time', () => 0, wall).now()).toBe(42);
  });
});
