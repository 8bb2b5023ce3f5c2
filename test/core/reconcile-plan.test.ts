/**
 * The reconcile planner. Examples pin the vocabulary; properties run the planner over
 * hundreds of seeded random hosts (desired document × observed records) and apply each plan to
 * a pure simulation of the state machine. (fast-check would shrink failing cases; it is not a
 * dependency, so a small seeded generator stands in and failures name their seed.)
 */
import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../../src/core/errors.ts';
import { desiredStatuses, instanceStatuses, roles } from '../../src/core/model.ts';
import type { DesiredStatus, InstanceStatus, Role } from '../../src/core/model.ts';
import { isUpStep, plan, planInstance } from '../../src/core/reconcile-plan.ts';
import type {
  DesiredInstance,
  ObservedInstance,
  PlanStep,
  Presence,
} from '../../src/core/reconcile-plan.ts';
import { canTransition } from '../../src/core/state-machine.ts';

const kinds = (steps: readonly PlanStep[]) => steps.map((s) => `${s.instance}:${s.kind}`);
const observed = (
  instance: string,
  role: Role,
  status: InstanceStatus,
  specCurrent = true,
): ObservedInstance => ({ instance, role, status, specCurrent });

describe('plan: examples', () => {
  it('an empty host: each instance is put, prepared and booted, gateways first', () => {
    const desired: DesiredInstance[] = [
      { instance: 'w1', role: 'worker', status: 'running' },
      { instance: 'gw', role: 'gateway', status: 'running' },
      { instance: 'b1', role: 'builder', status: 'warm' },
    ];
    const { steps, stuck } = plan(desired, []);
    expect(stuck).toEqual([]);
    expect(kinds(steps)).toEqual([
      'gw:put',
      'gw:prepare',
      'gw:boot',
      'b1:put',
      'b1:prepare',
      'b1:boot',
      'w1:put',
      'w1:prepare',
      'w1:boot',
      'b1:pause',
    ]);
    expect(steps[0]).toEqual({ kind: 'put', instance: 'gw', from: 'absent', to: 'created' });
    expect(steps[2]).toEqual({ kind: 'boot', instance: 'gw', from: 'ready', to: 'running' });
  });

  it('sleeping a fleet: workers first, the gateway last; a running guest is drained first', () => {
    const desired: DesiredInstance[] = [
      { instance: 'gw', role: 'gateway', status: 'sleeping' },
      { instance: 'w1', role: 'worker', status: 'sleeping' },
    ];
    const { steps } = plan(desired, [
      observed('gw', 'gateway', 'running'),
      observed('w1', 'worker', 'warm'),
    ]);
    expect(kinds(steps)).toEqual(['w1:sleep', 'gw:drain', 'gw:pause', 'gw:sleep']);
    expect(steps[0]).toMatchObject({ kind: 'sleep', from: 'warm', drained: false });
    expect(steps[3]).toMatchObject({ kind: 'sleep', from: 'warm', drained: true });
  });

  it('up before down: a worker waking comes before a gateway pausing', () => {
    const { steps } = plan(
      [
        { instance: 'gw', role: 'gateway', status: 'warm' },
        { instance: 'w1', role: 'worker', status: 'running' },
      ],
      [observed('gw', 'gateway', 'running'), observed('w1', 'worker', 'sleeping')],
    );
    expect(kinds(steps)).toEqual(['w1:wake', 'gw:pause']);
  });

  it('records the document no longer names are destroyed; named-destroyed and absent is nothing', () => {
    const { steps } = plan(
      [{ instance: 'gone', role: 'worker', status: 'destroyed' }],
      [observed('orphan', 'worker', 'sleeping', false)],
    );
    expect(steps).toEqual([
      { kind: 'destroy', instance: 'orphan', from: 'sleeping', to: 'destroyed' },
    ]);
  });

  it('a changed spec is put where the instance stands, before its moves', () => {
    const { steps } = plan(
      [{ instance: 'w1', role: 'worker', status: 'running' }],
      [observed('w1', 'worker', 'stopped', false)],
    );
    expect(kinds(steps)).toEqual(['w1:put', 'w1:prepare', 'w1:boot']);
    expect(steps[0]).toMatchObject({ from: 'stopped', to: 'stopped' });
  });

  it('a destroyed record cannot be brought back: it is stuck, the others go on', () => {
    const { steps, stuck } = plan(
      [
        { instance: 'dead', role: 'worker', status: 'running' },
        { instance: 'w2', role: 'worker', status: 'running' },
      ],
      [observed('dead', 'worker', 'destroyed'), observed('w2', 'worker', 'failed')],
    );
    expect(kinds(steps)).toEqual(['w2:prepare', 'w2:boot']);
    expect(stuck).toEqual([
      {
        instance: 'dead',
        status: 'destroyed',
        desired: 'running',
        reason: expect.stringMatching(/'destroyed' is terminal/),
      },
    ]);
  });
});

describe('planInstance: the local actions', () => {
  const at = (status: InstanceStatus) => ({ status, specCurrent: true });

  it.each([
    ['sleeping', 'running', ['wake']],
    ['warm', 'running', ['resume']],
    ['stopped', 'running', ['prepare', 'boot']],
    ['failed', 'running', ['prepare', 'boot']],
    ['running', 'sleeping', ['drain', 'pause', 'sleep']],
    ['sleeping', 'warm', ['wake', 'pause']],
    ['running', 'destroyed', ['destroy']],
    ['running', 'running', []],
  ] as [InstanceStatus, DesiredStatus, string[]][])('%s toward %s: %j', (from, to, expected) => {
    expect(planInstance('k', at(from), to).map((s) => s.kind)).toEqual(expected);
  });

  it('a destroyed instance goes nowhere (IllegalTransitionError, as the API has always said)', () => {
    expect(() => planInstance('k', at('destroyed'), 'running')).toThrow(IllegalTransitionError);
  });
});

/** mulberry32: a tiny seeded PRNG, so every random case can be replayed by its seed. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  return { next, pick, chance: (p: number) => next() < p };
}

interface Host {
  desired: DesiredInstance[];
  observed: ObservedInstance[];
  roleOf: Map<string, Role>;
}

/** Up to 12 instances: named or not, recorded or not, at any status, with any spec. */
function randomHost(seed: number): Host {
  const rng = random(seed);
  const host: Host = { desired: [], observed: [], roleOf: new Map() };
  const count = Math.floor(rng.next() * 13);
  for (let i = 0; i < count; i++) {
    const instance = `i${i}`;
    const role = rng.pick(roles);
    host.roleOf.set(instance, role);
    const named = rng.chance(0.8);
    const recorded = !named || rng.chance(0.7);
    if (named) host.desired.push({ instance, role, status: rng.pick(desiredStatuses) });
    if (recorded) {
      // `destroyed` records (a destroy cut short) are rare; make them so here too.
      const statuses = instanceStatuses.filter((s) => s !== 'destroyed' || rng.chance(0.2));
      host.observed.push(observed(instance, role, rng.pick(statuses), rng.chance(0.5)));
    }
  }
  // The planner must not depend on the order records are listed in for correctness.
  host.observed.sort(() => rng.next() - 0.5);
  return host;
}

interface SimInstance {
  status: InstanceStatus;
  specCurrent: boolean;
}

/** The edge each kind walks, checked apart from the planner's own table. */
const legalKind: Record<PlanStep['kind'], (from: Presence, to: InstanceStatus) => boolean> = {
  put: (from, to) => (from === 'absent' ? to === 'created' : to === from),
  prepare: (_from, to) => to === 'ready',
  boot: (from, to) => from === 'ready' && to === 'running',
  resume: (from, to) => from === 'warm' && to === 'running',
  wake: (from, to) => from === 'sleeping' && to === 'running',
  drain: (from, to) => from === 'running' && to === 'running',
  pause: (from, to) => from === 'running' && to === 'warm',
  sleep: (from, to) => from === 'warm' && to === 'sleeping',
  stop: (_from, to) => to === 'stopped',
  destroy: (_from, to) => to === 'destroyed',
};

/** Applies a plan to a simulated host, failing on any step the state machine forbids. */
function simulate(host: Host, steps: readonly PlanStep[]): Map<string, SimInstance> {
  const state = new Map<string, SimInstance>(
    host.observed.map((o) => [o.instance, { status: o.status, specCurrent: o.specCurrent }]),
  );
  const history = new Map<string, PlanStep[]>();
  for (const step of steps) {
    const current = state.get(step.instance);
    const at: Presence = current?.status ?? 'absent';
    expect(step.from, `${step.instance} ${step.kind}`).toBe(at);
    expect(legalKind[step.kind](step.from, step.to), `${step.kind} ${at}->${step.to}`).toBe(true);
    const before = history.get(step.instance) ?? [];
    if (step.kind === 'sleep') {
      // The guest is drained before every snapshot: by a drain while it ran, or by the sleep.
      const drainedHere = before.at(-1)?.kind === 'pause' && before.at(-2)?.kind === 'drain';
      expect(step.drained).toBe(drainedHere);
    }
    history.set(step.instance, [...before, step]);
    if (step.kind === 'put') {
      state.set(step.instance, { status: step.to, specCurrent: true });
    } else if (step.kind !== 'drain') {
      expect(canTransition(at as InstanceStatus, step.to)).toBe(true);
      if (step.to === 'destroyed') state.delete(step.instance);
      else state.set(step.instance, { status: step.to, specCurrent: current!.specCurrent });
    }
  }
  return state;
}

const priority = (role: Role) => roles.indexOf(role);
const cases = Array.from({ length: 600 }, (_, i) => i + 1);

describe('plan: properties over 600 seeded random hosts', () => {
  it('every step is legal where it runs, and every instance ends where it is wanted', () => {
    for (const seed of cases) {
      const host = randomHost(seed);
      const { steps, stuck } = plan(host.desired, host.observed);
      const state = simulate(host, steps);
      const stuckNames = new Set(stuck.map((s) => s.instance));
      for (const d of host.desired) {
        if (stuckNames.has(d.instance)) continue;
        const end = state.get(d.instance);
        if (d.status === 'destroyed') {
          expect(end === undefined || end.status === 'destroyed', `seed ${seed}`).toBe(true);
        } else {
          expect(end, `seed ${seed} ${d.instance}`).toEqual({
            status: d.status,
            specCurrent: true,
          });
        }
      }
      // Records the document does not name are torn down.
      const named = new Set(host.desired.map((d) => d.instance));
      for (const o of host.observed.filter((o) => !named.has(o.instance))) {
        expect(state.get(o.instance)?.status ?? 'absent', `seed ${seed}`).toMatch(
          /^(absent|destroyed)$/,
        );
      }
    }
  });

  it('only destroyed records wanted elsewhere are stuck, and they get no steps', () => {
    for (const seed of cases) {
      const host = randomHost(seed);
      const { steps, stuck } = plan(host.desired, host.observed);
      const expected = host.desired
        .filter((d) => d.status !== 'destroyed')
        .filter((d) => host.observed.find((o) => o.instance === d.instance)?.status === 'destroyed')
        .map((d) => d.instance);
      expect(stuck.map((s) => s.instance).sort(), `seed ${seed}`).toEqual(expected.sort());
      for (const name of expected) expect(steps.some((s) => s.instance === name)).toBe(false);
    }
  });

  it('up-steps come first in role order (gateways first), down-steps after in reverse (gateways last)', () => {
    for (const seed of cases) {
      const host = randomHost(seed);
      const { steps } = plan(host.desired, host.observed);
      const role = (s: PlanStep) => host.roleOf.get(s.instance)!;
      const up = steps.filter(isUpStep);
      const down = steps.filter((s) => !isUpStep(s));
      expect(steps, `seed ${seed}`).toEqual([...up, ...down]);
      up.slice(1).forEach((s, i) =>
        expect(priority(role(up[i]!))).toBeLessThanOrEqual(priority(role(s))),
      );
      down
        .slice(1)
        .forEach((s, i) =>
          expect(priority(role(down[i]!))).toBeGreaterThanOrEqual(priority(role(s))),
        );
      const lastGatewayUp = up.findLastIndex((s) => role(s) === 'gateway');
      const firstOtherUp = up.findIndex((s) => role(s) !== 'gateway');
      if (lastGatewayUp >= 0 && firstOtherUp >= 0) expect(lastGatewayUp).toBeLessThan(firstOtherUp);
      const firstGatewayDown = down.findIndex((s) => role(s) === 'gateway');
      const lastOtherDown = down.findLastIndex((s) => role(s) !== 'gateway');
      if (firstGatewayDown >= 0 && lastOtherDown >= 0) {
        expect(firstGatewayDown).toBeGreaterThan(lastOtherDown);
      }
    }
  });

  it('no instance passes through a status twice (shortest paths, no detours)', () => {
    for (const seed of cases) {
      const host = randomHost(seed);
      const { steps } = plan(host.desired, host.observed);
      const visited = new Map<string, Presence[]>();
      for (const o of host.observed) visited.set(o.instance, [o.status]);
      for (const s of steps.filter((s) => s.from !== s.to)) {
        const seen = visited.get(s.instance) ?? ['absent'];
        expect(seen, `seed ${seed} ${s.instance}`).not.toContain(s.to);
        visited.set(s.instance, [...seen, s.to]);
      }
    }
  });

  it('is idempotent: a plan on the host its own plan produced is empty', () => {
    for (const seed of cases) {
      const host = randomHost(seed);
      const first = plan(host.desired, host.observed);
      const state = simulate(host, first.steps);
      const after: ObservedInstance[] = [...state].map(([instance, s]) =>
        observed(instance, host.roleOf.get(instance)!, s.status, s.specCurrent),
      );
      const second = plan(host.desired, after);
      expect(second.steps, `seed ${seed}`).toEqual([]);
      expect(second.stuck).toEqual(first.stuck);
    }
  });

  it('is deterministic', () => {
    for (const seed of cases.slice(0, 100)) {
      const host = randomHost(seed);
      expect(plan(host.desired, host.observed)).toEqual(plan(host.desired, host.observed));
    }
  });
});

describe('plan: restart on a pinned revision', () => {
  it('a live instance a rollout pinned elsewhere is stopped, put and brought back whole, before the downs', () => {
    const desired: DesiredInstance[] = [
      { instance: 'w1', role: 'worker', status: 'warm' },
      { instance: 'w2', role: 'worker', status: 'stopped' },
    ];
    const { steps } = plan(desired, [
      { ...observed('w1', 'worker', 'running'), restart: true },
      observed('w2', 'worker', 'running'),
    ]);
    expect(kinds(steps)).toEqual([
      'w1:stop',
      'w1:put',
      'w1:prepare',
      'w1:boot',
      'w1:pause',
      'w2:stop',
    ]);
    expect(steps[1]).toEqual({ kind: 'put', instance: 'w1', from: 'stopped', to: 'stopped' });
  });

  it('a sleeping one loses its snapshot; a stopped one or one meant destroyed is not restarted', () => {
    const restarted = planInstance(
      's',
      { status: 'sleeping', specCurrent: true, restart: true },
      'sleeping',
    );
    expect(restarted.map((s) => s.kind)).toEqual([
      'stop',
      'put',
      'prepare',
      'boot',
      'drain',
      'pause',
      'sleep',
    ]);
    expect(
      planInstance('x', { status: 'stopped', specCurrent: false, restart: true }, 'running').map(
        (s) => s.kind,
      ),
    ).toEqual(['put', 'prepare', 'boot']);
    expect(
      planInstance('x', { status: 'running', specCurrent: true, restart: true }, 'destroyed').map(
        (s) => s.kind,
      ),
    ).toEqual(['destroy']);
  });
});
