import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import {
  IDLE_MIN_AWAKE_SECS,
  idleVerdict,
  validateIdlePolicy,
  type IdleCandidate,
  type IdlePolicy,
} from '../../src/core/idle-policy.ts';
import type { DesiredStatus, InstanceStatus } from '../../src/core/model.ts';
import type { SleepPolicy } from '../../src/core/sleep-policy.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (secs: number) => new Date(T0 + secs * 1000).toISOString();
const ms = (secs: number) => T0 + secs * 1000;

const policyOf = (warm: number, sleep: number, minRunningSecs = 0, minWarmSecs = 0) => ({
  idleWarmAfterSecs: warm,
  idleSleepAfterSecs: sleep,
  minRunningSecs,
  minWarmSecs,
});

function instance(patch: Partial<IdleCandidate> = {}): IdleCandidate {
  return {
    status: 'running',
    desiredStatus: 'running',
    idleSlot: null,
    createdAt: iso(0),
    statusSince: iso(0),
    lastActiveAt: null,
    pressureSleptAt: null,
    guestBusy: false,
    ...patch,
  };
}

describe('idle policy validation', () => {
  it('takes 0 as off and refuses negatives, fractions and a sleep step not after the warm one', () => {
    expect(validateIdlePolicy({ idleWarmAfterSecs: 0, idleSleepAfterSecs: 0 })).toBeTruthy();
    expect(validateIdlePolicy({ idleWarmAfterSecs: 0, idleSleepAfterSecs: 60 })).toBeTruthy();
    expect(validateIdlePolicy({ idleWarmAfterSecs: 30, idleSleepAfterSecs: 0 })).toBeTruthy();
    for (const bad of [
      { idleWarmAfterSecs: -1, idleSleepAfterSecs: 0 },
      { idleWarmAfterSecs: 1.5, idleSleepAfterSecs: 0 },
      { idleWarmAfterSecs: 60, idleSleepAfterSecs: 60 },
      { idleWarmAfterSecs: 60, idleSleepAfterSecs: 30 },
    ]) {
      expect(() => validateIdlePolicy(bad)).toThrow(ValidationError);
    }
  });
});

describe('idleVerdict', () => {
  const policy = policyOf(30, 90);

  it('lowers a running instance idle past the warm time to warm, then to sleeping', () => {
    const active = instance({ lastActiveAt: iso(20) });
    expect(idleVerdict(policy, active, ms(49))).toEqual({ kind: 'keep', recheckAt: ms(50) });
    expect(idleVerdict(policy, active, ms(50))).toEqual({
      kind: 'lower',
      to: 'warm',
      slot: 'running',
    });
    // Paused at 51: its idle time runs on from 21 (51 less the warm period), not from 51.
    const warm = instance({
      status: 'warm',
      desiredStatus: 'warm',
      idleSlot: 'running',
      statusSince: iso(51),
      lastActiveAt: iso(20),
    });
    expect(idleVerdict(policy, warm, ms(110))).toEqual({ kind: 'keep', recheckAt: ms(111) });
    expect(idleVerdict(policy, warm, ms(111))).toEqual({
      kind: 'lower',
      to: 'sleeping',
      slot: 'running',
    });
  });

  it('keeps a woken instance running for the minimum-awake window, however long it was idle', () => {
    const woken = instance({ lastActiveAt: iso(0), statusSince: iso(1000) });
    expect(idleVerdict(policyOf(1, 2), woken, ms(1000 + IDLE_MIN_AWAKE_SECS) - 1).kind).toBe(
      'keep',
    );
    expect(idleVerdict(policyOf(1, 2), woken, ms(1000 + IDLE_MIN_AWAKE_SECS))).toMatchObject({
      kind: 'lower',
      to: 'sleeping',
    });
    // The pool's minRunningSecs lengthens the window.
    expect(idleVerdict(policyOf(1, 2, 60), woken, ms(1059)).kind).toBe('keep');
  });

  it('leaves alone what is mid-move, held by pressure, forced, stopped, or a pool without policy', () => {
    const late = ms(10_000);
    expect(idleVerdict(policyOf(0, 0), instance(), late)).toEqual({ kind: 'keep' });
    for (const patch of [
      { status: 'warm' as InstanceStatus },
      { pressureSleptAt: iso(1) },
      { sleepForced: true },
      { desiredStatus: 'stopped' as DesiredStatus, status: 'stopped' as InstanceStatus },
      { desiredStatus: 'sleeping' as DesiredStatus, status: 'sleeping' as InstanceStatus },
    ]) {
      expect(idleVerdict(policy, instance(patch), late).kind).toBe('keep');
    }
  });

  it('lowers an instance of a pool with service ports only while its wake trap is armed', () => {
    const served = { ...policy, servicePorts: [8080] };
    expect(idleVerdict(served, instance(), ms(10_000))).toEqual({ kind: 'keep' });
    expect(idleVerdict(served, instance({ wakeArmed: true }), ms(10_000))).toMatchObject({
      kind: 'lower',
      to: 'sleeping',
    });
  });

  it('sends a guest that refused the idle sleep as busy back to its slot', () => {
    const refused = instance({ desiredStatus: 'sleeping', idleSlot: 'running', guestBusy: true });
    expect(idleVerdict(policy, refused, ms(500))).toEqual({ kind: 'restore', slot: 'running' });
  });

  it('sleeps a warm-slot instance after the sleep time; the warm step does not apply to it', () => {
    const warm = instance({ status: 'warm', desiredStatus: 'warm', statusSince: iso(5) });
    expect(idleVerdict(policy, warm, ms(94))).toEqual({ kind: 'keep', recheckAt: ms(95) });
    expect(idleVerdict(policy, warm, ms(95))).toEqual({
      kind: 'lower',
      to: 'sleeping',
      slot: 'warm',
    });
  });
});

/**
 * A simulated life: activity samples, wakes and idle passes at random times, the node settling
 * every change at once. What must hold whatever happens: nothing is lowered within the
 * minimum-awake window of a wake, a busy guest's refusal or creation, nor within the warm time
 * of the last activity; between two such raises an instance only goes down (never flaps up and
 * down on its own), at most twice; and once lowered with no new event, it stays lowered.
 */
type Event = { at: number; kind: 'active' | 'wake' | 'pass' | 'busy' };

const eventArb = fc.record({
  at: fc.integer({ min: 0, max: 2_000 }),
  kind: fc.constantFrom<Event['kind']>('active', 'wake', 'pass', 'pass', 'pass', 'busy'),
});

const policyArb = fc
  .record({
    warm: fc.integer({ min: 0, max: 300 }),
    extra: fc.integer({ min: 1, max: 600 }),
    sleepOn: fc.boolean(),
    minRunningSecs: fc.integer({ min: 0, max: 120 }),
    minWarmSecs: fc.integer({ min: 0, max: 120 }),
  })
  .map(({ warm, extra, sleepOn, minRunningSecs, minWarmSecs }) => ({
    idleWarmAfterSecs: warm,
    idleSleepAfterSecs: sleepOn || warm === 0 ? warm + extra : 0,
    minRunningSecs,
    minWarmSecs,
  }));

const height: Record<string, number> = { running: 2, warm: 1, sleeping: 0 };

function live(policy: IdlePolicy & SleepPolicy, events: Event[]) {
  let state = instance();
  let lastWake = 0;
  let lastActive = 0;
  let lowersSinceWake = 0;
  const log: string[] = [];
  for (const event of [...events].sort((a, b) => a.at - b.at)) {
    const now = ms(event.at);
    if (event.kind === 'active' && state.status === 'running') {
      state = { ...state, lastActiveAt: iso(event.at) };
      lastActive = event.at;
    } else if (event.kind === 'wake' && state.desiredStatus !== 'running') {
      // A wake puts the instance back to running; its slot (running) is restored.
      state = { ...state, status: 'running', desiredStatus: 'running', idleSlot: null };
      state = { ...state, statusSince: iso(event.at) };
      lastWake = event.at;
      lowersSinceWake = 0;
    } else if (event.kind === 'busy' || event.kind === 'pass') {
      const busy = event.kind === 'busy' && state.status === 'running';
      const verdict = idleVerdict(policy, { ...state, guestBusy: busy }, now);
      if (verdict.kind === 'lower') {
        expect(height[verdict.to]).toBeLessThan(height[state.desiredStatus] ?? 0);
        expect(event.at).toBeGreaterThanOrEqual(lastWake + IDLE_MIN_AWAKE_SECS);
        if (state.status === 'running') {
          expect(event.at).toBeGreaterThanOrEqual(lastActive + policy.idleWarmAfterSecs);
        }
        lowersSinceWake += 1;
        expect(lowersSinceWake).toBeLessThanOrEqual(2);
        // A busy guest refuses the sleep: it keeps running, desired stays lowered.
        const refused = busy && verdict.to === 'sleeping';
        state = {
          ...state,
          desiredStatus: verdict.to,
          idleSlot: verdict.slot,
          status: refused ? 'running' : verdict.to,
          statusSince: refused ? state.statusSince : iso(event.at),
        };
        log.push(`${event.at}:${verdict.to}`);
        // Asked again at once with nothing new, the answer is not to go back up.
        const again = idleVerdict(policy, { ...state, guestBusy: false }, now);
        expect(again.kind === 'restore').toBe(false);
      } else if (verdict.kind === 'restore') {
        expect(busy).toBe(true);
        state = { ...state, desiredStatus: verdict.slot, idleSlot: null };
        state = { ...state, lastActiveAt: iso(event.at) };
        lastActive = event.at;
        lastWake = event.at;
        lowersSinceWake = 0;
      }
    }
  }
  return log;
}

describe('idleVerdict over random lives (fast-check)', () => {
  it('never lowers inside a window, only goes down between wakes, at most twice', () => {
    fc.assert(
      fc.property(policyArb, fc.array(eventArb, { maxLength: 60 }), (policy, events) => {
        live(policy, events);
      }),
      { numRuns: 2_000 },
    );
  });

  it('is monotone in time: once due, a step stays due when nothing happens', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 0, max: 1_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: 1, max: 5_000 }),
        (policy, active, at, later) => {
          const subject = instance({ lastActiveAt: iso(active) });
          const first = idleVerdict(policy, subject, ms(active + at));
          const second = idleVerdict(policy, subject, ms(active + at + later));
          if (first.kind === 'lower') {
            expect(second.kind).toBe('lower');
            if (second.kind === 'lower') {
              expect(height[second.to]).toBeLessThanOrEqual(height[first.to] ?? 0);
            }
          }
          if (first.kind === 'keep' && first.recheckAt !== undefined) {
            expect(first.recheckAt).toBeGreaterThan(ms(active + at));
            expect(idleVerdict(policy, subject, first.recheckAt).kind).toBe('lower');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
