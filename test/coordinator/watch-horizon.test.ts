/**
 * HorizonLook (src/coordinator/services/watch-horizon.ts), on a hand-driven clock and horizon:
 * a connected watch starts over only when the horizon passed a cursor it read from since its
 * last look, and only once for a horizon; it reads the horizon at most once per period.
 */
import { describe, expect, it } from 'vitest';
import { HorizonLook } from '../../src/coordinator/services/watch-horizon.ts';

function look(known: number) {
  const state = { now: 0, horizon: known, reads: 0 };
  const subject = new HorizonLook(
    known,
    2_000,
    () => {
      state.reads += 1;
      return Promise.resolve(state.horizon);
    },
    () => state.now,
  );
  return { state, subject };
}

describe('a connected watch looking at the pruning horizon', () => {
  it('reads the horizon at most once a period, and only after a read of changes', async () => {
    const { state, subject } = look(0);
    expect(await subject.passed()).toBeUndefined();
    state.now = 5_000;
    expect(await subject.passed()).toBeUndefined();
    expect(state.reads).toBe(0);
    subject.reading(10);
    state.now = 5_500;
    expect(await subject.passed()).toBeUndefined();
    expect(state.reads).toBe(1);
    subject.reading(11);
    state.now = 6_000;
    expect(await subject.passed()).toBeUndefined();
    expect(state.reads).toBe(1);
  });

  it('passes when the horizon moved past the first cursor read from since the last look', async () => {
    const { state, subject } = look(3);
    subject.reading(10);
    subject.reading(20);
    state.horizon = 15;
    state.now = 2_000;
    expect(await subject.passed()).toEqual({ since: 10, horizon: 15 });
    // That horizon is known now: the list read after it lacks those rows.
    subject.reading(12);
    state.now = 4_000;
    expect(await subject.passed()).toBeUndefined();
    // One that moves up to the cursor read from does not; past it again, it does.
    subject.reading(16);
    state.horizon = 16;
    state.now = 6_000;
    expect(await subject.passed()).toBeUndefined();
    subject.reading(17);
    state.horizon = 20;
    state.now = 7_000;
    expect(await subject.passed()).toBeUndefined();
    state.now = 8_000;
    expect(await subject.passed()).toEqual({ since: 17, horizon: 20 });
  });

  it('does not pass for a horizon at or below the cursors it read from', async () => {
    const { state, subject } = look(0);
    subject.reading(10);
    state.horizon = 10;
    state.now = 2_000;
    expect(await subject.passed()).toBeUndefined();
    expect(state.reads).toBe(1);
  });
});
