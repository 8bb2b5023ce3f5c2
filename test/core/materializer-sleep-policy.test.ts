import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { materialize } from '../../src/core/materializer.ts';
import type { MaterializeInstance, MaterializeResult } from '../../src/core/materializer.ts';
import type { DesiredStatus, InstanceStatus, PoolCounts } from '../../src/core/model.ts';
import type { SleepPolicy } from '../../src/core/sleep-policy.ts';
import { pathTo } from '../../src/core/state-machine.ts';
import { seedToDesired } from '../../src/core/desired-doc.ts';
import type { ExistingInstance, SeedResult } from '../../src/core/desired-doc.ts';
import type { SeedDocument } from '../../src/contract/desired.ts';

const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const ago = (secs: number) => new Date(NOW - secs * 1000).toISOString();
const at = (secs: number) => new Date(NOW + secs * 1000).toISOString();

function counts(running: number, warm = 0, sleeping = 0): PoolCounts {
  return { running, warm, sleeping };
}

function policy(minRunningSecs: number, minWarmSecs = 0): SleepPolicy {
  return { minRunningSecs, minWarmSecs };
}

/**
 * `id:status>desired@active~since`: active and since are seconds before NOW; a missing
 * active part means never active, a missing since part means the status changed long ago.
 */
function fleet(...specs: string[]): MaterializeInstance[] {
  return specs.map((spec) => {
    const [head = '', sinceText] = spec.split('~');
    const [main = '', activeText] = head.split('@');
    const [id = '', rest = ''] = main.split(':');
    const [status = '', desired = 'stopped'] = rest.split('>');
    return {
      id,
      status: status as InstanceStatus,
      desiredStatus: desired as DesiredStatus,
      lastActiveAt: activeText === undefined ? null : ago(Number(activeText)),
      statusSince: sinceText === undefined ? ago(86_400) : ago(Number(sinceText)),
    };
  });
}

function assigned(result: MaterializeResult): Record<string, string> {
  return Object.fromEntries(result.assignments.map((a) => [a.id, a.desiredStatus]));
}

function apply(
  instances: readonly MaterializeInstance[],
  result: MaterializeResult,
  nowIso: string,
): MaterializeInstance[] {
  const desired = new Map(result.assignments.map((a) => [a.id, a.desiredStatus]));
  const updated = instances.map((i) => ({
    ...i,
    desiredStatus: desired.get(i.id) ?? i.desiredStatus,
  }));
  const created = result.create.map((desiredStatus, n) => ({
    id: `new-${n}`,
    status: 'created' as InstanceStatus,
    desiredStatus,
    statusSince: nowIso,
    lastActiveAt: null,
  }));
  return [...updated, ...created];
}

const settled = { assignments: [], create: [] };

describe('sleep policy: coldest first', () => {
  const three = fleet('a:running>running@300', 'b:running>running@5', 'c:running>running@60');

  it('keeps the most recently active running instances on scale-down', () => {
    expect(assigned(materialize({ counts: counts(1), instances: three }))).toEqual({
      a: 'stopped',
      c: 'stopped',
    });
    expect(assigned(materialize({ counts: counts(2), instances: three }))).toEqual({
      a: 'stopped',
    });
  });

  it('sends the colder of the demoted to warm first and the coldest further', () => {
    expect(assigned(materialize({ counts: counts(1, 1), instances: three }))).toEqual({
      c: 'warm',
      a: 'stopped',
    });
    expect(assigned(materialize({ counts: counts(1, 1, 1), instances: three }))).toEqual({
      c: 'warm',
      a: 'sleeping',
    });
  });

  it('counts never-active instances as the coldest of all', () => {
    const all = fleet('a:running>running', 'b:running>running@86000', 'c:running>running@1');
    expect(assigned(materialize({ counts: counts(2), instances: all }))).toEqual({
      a: 'stopped',
    });
  });

  it('breaks equal activity by id, whatever the input order', () => {
    const all = fleet('m:running>running@9', 'b:running>running@9', 'x:running>running@9');
    const forward = materialize({ counts: counts(1), instances: all });
    expect(materialize({ counts: counts(1), instances: [...all].reverse() })).toEqual(forward);
    expect(assigned(forward)).toEqual({ m: 'stopped', x: 'stopped' });
  });

  it('lets the coldest warm instances go to sleep first', () => {
    const warm = fleet('a:warm>warm@10', 'b:warm>warm@500', 'c:warm>warm', 'd:warm>warm@20');
    expect(assigned(materialize({ counts: counts(0, 2, 2), instances: warm }))).toEqual({
      b: 'sleeping',
      c: 'sleeping',
    });
  });

  it('wakes the hottest warm instance when running scales up', () => {
    const all = fleet('a:warm>warm@400', 'b:warm>warm@4', 'c:running>running@1');
    expect(assigned(materialize({ counts: counts(2, 1), instances: all }))).toEqual({
      b: 'running',
    });
  });

  it('puts a cheaper move before a hotter instance', () => {
    // b is hotter but stopped; a is already warm, so resuming it costs least.
    const all = fleet('a:warm@900', 'b:stopped@1');
    expect(assigned(materialize({ counts: counts(1), instances: all }))).toEqual({
      a: 'running',
    });
  });

  it('orders the sleeping slot by cost and id alone', () => {
    const all = fleet('a:running>running', 'b:running>running@1');
    // Neither fits running or warm; one sleeps. By id, not activity.
    expect(assigned(materialize({ counts: counts(0, 0, 1), instances: all }))).toEqual({
      a: 'sleeping',
      b: 'stopped',
    });
  });

  it('moves nothing in a settled pool when activity changes', () => {
    const before = fleet('a:running>running@1', 'b:warm>warm@900', 'c:sleeping>sleeping@5');
    const after = fleet('a:running>running@900', 'b:warm>warm@1', 'c:sleeping>sleeping@1');
    expect(materialize({ counts: counts(1, 1, 1), instances: before })).toEqual(settled);
    expect(materialize({ counts: counts(1, 1, 1), instances: after })).toEqual(settled);
  });
});

describe('sleep policy: minimum times', () => {
  const input = (c: PoolCounts, p: SleepPolicy, instances: MaterializeInstance[], now = NOW) => ({
    counts: c,
    instances,
    policy: p,
    now,
  });

  it('keeps a young running instance running past the count and says when it is due', () => {
    const all = fleet('a:running>running@1~30', 'b:running>running@2~600');
    const result = materialize(input(counts(0), policy(60), all));
    expect(assigned(result)).toEqual({ b: 'stopped' });
    expect(result.recheckAt).toBe(at(30));
  });

  it('does not let a held instance displace one the order keeps', () => {
    // a is hot and old, b cold and young: a fills the one slot, b rides on top until due.
    const all = fleet('a:running>running@1~600', 'b:running>running@500~10');
    const result = materialize(input(counts(1), policy(60), all));
    expect(result).toEqual({ assignments: [], create: [], recheckAt: at(50) });
    const due = materialize(input(counts(1), policy(60), all, Date.parse(at(50))));
    expect(due).toEqual({ assignments: [{ id: 'b', desiredStatus: 'stopped' }], create: [] });
  });

  it('reports the earliest of several due times', () => {
    const all = fleet('a:running>running~10', 'b:running>running~50', 'c:warm>warm~5');
    const result = materialize(input(counts(0), policy(60, 20), all));
    expect(result.assignments).toEqual([]);
    expect(result.recheckAt).toBe(at(10));
  });

  it('keeps a young warm instance from sleeping and lets an old one go', () => {
    const all = fleet('a:warm>warm@1~100', 'b:warm>warm@2~5');
    const result = materialize(input(counts(0, 0, 2), policy(0, 30), all));
    expect(assigned(result)).toEqual({ a: 'sleeping' });
    expect(result.recheckAt).toBe(at(25));
  });

  it('keeps the lower place a held instance will take, creating and waking nothing', () => {
    // b is over the running count but young; warm waits for it rather than waking c.
    const all = fleet('a:running>running@1~100', 'b:running>running@9~10', 'c:sleeping>sleeping');
    const young = materialize(input(counts(1, 1, 1), policy(60), all));
    expect(young).toEqual({ assignments: [], create: [], recheckAt: at(50) });
    const later = materialize(input(counts(1, 1, 1), policy(60), all, Date.parse(at(50))));
    expect(later).toEqual({ assignments: [{ id: 'b', desiredStatus: 'warm' }], create: [] });
  });

  it('holds a waking instance in warm rather than sending it to sleep', () => {
    // Observed warm, meant to run; running no longer wants it, and it is young in warm.
    const all = fleet('a:running>running@1', 'b:warm>running@2~10');
    const result = materialize(input(counts(1, 0, 1), policy(0, 60), all));
    expect(assigned(result)).toEqual({ b: 'warm' });
    expect(result.recheckAt).toBe(at(50));
    const again = apply(all, result, ago(0));
    expect(materialize(input(counts(1, 0, 1), policy(0, 60), again))).toEqual({
      ...settled,
      recheckAt: at(50),
    });
  });

  it('never pulls back an instance already told to go lower', () => {
    const all = fleet('a:running>warm~5', 'b:warm>sleeping~5');
    expect(materialize(input(counts(0, 1, 1), policy(60, 60), all))).toEqual(settled);
  });

  it('treats an unknown status time as old', () => {
    const all = fleet('a:running>running').map((i) => ({ ...i, statusSince: null }));
    expect(assigned(materialize(input(counts(0), policy(60), all)))).toEqual({ a: 'stopped' });
  });

  it('applies to a scale to zero like any other', () => {
    const all = fleet('a:running>running~1', 'b:warm>warm~1', 'c:sleeping>sleeping~1');
    const result = materialize(input(counts(0), policy(60, 60), all));
    expect(assigned(result)).toEqual({ c: 'stopped' });
    expect(result.recheckAt).toBe(at(59));
  });

  it('accepts now as ISO text or epoch ms', () => {
    const all = fleet('a:running>running~10');
    const byMs = materialize(input(counts(0), policy(60), all));
    const byIso = materialize({ ...input(counts(0), policy(60), all), now: ago(0) });
    expect(byIso).toEqual(byMs);
  });

  it('needs now only when a minimum is set', () => {
    const all = fleet('a:running>running~10');
    expect(() => materialize({ counts: counts(0), instances: all, policy: policy(60) })).toThrow(
      ValidationError,
    );
    expect(() =>
      materialize({ counts: counts(0), instances: all, policy: policy(60), now: 'soon' }),
    ).toThrow(ValidationError);
    expect(
      materialize({ counts: counts(0), instances: all, policy: policy(0) }).assignments,
    ).toEqual([{ id: 'a', desiredStatus: 'stopped' }]);
  });

  it.each([policy(-1), policy(1.5), policy(0, Number.NaN), policy(0, 10 ** 9)])(
    'rejects policy %j',
    (bad) => {
      expect(() =>
        materialize({ counts: counts(0), instances: [], policy: bad, now: NOW }),
      ).toThrow(ValidationError);
    },
  );
});

/** A small deterministic generator (mulberry32), so a failing case can be replayed by seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const observed: InstanceStatus[] = [
  'created',
  'ready',
  'running',
  'warm',
  'sleeping',
  'stopped',
  'failed',
];
const wanted: DesiredStatus[] = ['running', 'warm', 'sleeping', 'stopped'];

function randomCase(next: () => number) {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const size = Math.floor(next() * 9);
  const instances: MaterializeInstance[] = Array.from({ length: size }, (_, n) => {
    const desiredStatus = pick(wanted);
    // Half of them already where they are meant to be, as in a fleet that has settled.
    const atGoal = desiredStatus !== 'stopped' && next() < 0.5;
    return {
      id: `i${Math.floor(next() * 1000)}-${n}`,
      status: atGoal ? desiredStatus : pick(observed),
      desiredStatus,
      statusSince: next() < 0.1 ? null : ago(Math.floor(next() * 120)),
      lastActiveAt: next() < 0.3 ? null : ago(Math.floor(next() * 20)),
    };
  });
  const c = counts(Math.floor(next() * 4), Math.floor(next() * 3), Math.floor(next() * 3));
  const p = policy(pick([0, 30, 60]), pick([0, 30, 60]));
  return { counts: c, instances, policy: p, now: NOW };
}

/** One agent step towards every goal; a status that changes is stamped with `nowIso`. */
function step(instances: readonly MaterializeInstance[], nowIso: string): MaterializeInstance[] {
  return instances.map((i) => {
    const next = pathTo(i.status, i.desiredStatus)[0];
    return next === undefined ? i : { ...i, status: next, statusSince: nowIso };
  });
}

describe('sleep policy: properties over random pools', () => {
  const cases = Array.from({ length: 400 }, (_, seed) => ({ seed, ...randomCase(random(seed)) }));

  it('changes nothing when run again on its own result at the same time', () => {
    for (const { seed, ...input } of cases) {
      const first = materialize(input);
      const again = materialize({ ...input, instances: apply(input.instances, first, ago(0)) });
      expect(again, `seed ${seed}`).toEqual({
        ...settled,
        ...(first.recheckAt === undefined ? {} : { recheckAt: first.recheckAt }),
      });
    }
  });

  it('gives the same answer whatever the input order', () => {
    for (const { seed, ...input } of cases) {
      const reversed = { ...input, instances: [...input.instances].reverse() };
      expect(materialize(reversed), `seed ${seed}`).toEqual(materialize(input));
    }
  });

  it('stays settled while the agent walks every instance to its goal', () => {
    for (const { seed, ...input } of cases) {
      let current = apply(input.instances, materialize(input), ago(0));
      for (let tick = 0; tick < 6; tick += 1) {
        current = step(current, ago(0));
        expect(materialize({ ...input, instances: current }).assignments, `seed ${seed}`).toEqual(
          [],
        );
      }
    }
  });

  it('stays settled when the agent moves one instance at a time, in any order', () => {
    for (const { seed, ...input } of cases) {
      let current = apply(input.instances, materialize(input), ago(0));
      const next = random(seed + 1_000);
      for (let tick = 0; tick < 30; tick += 1) {
        const movable = current.filter((i) => pathTo(i.status, i.desiredStatus).length > 0);
        const one = movable[Math.floor(next() * movable.length)];
        if (one === undefined) break;
        current = current.map((i) => (i.id === one.id ? (step([i], ago(0))[0] ?? i) : i));
        expect(materialize({ ...input, instances: current }).assignments, `seed ${seed}`).toEqual(
          [],
        );
      }
    }
  });

  it('holds only what is over the count, and only until the earliest due time', () => {
    for (const { seed, ...input } of cases) {
      const result = materialize(input);
      const settledPool = apply(input.instances, result, ago(0));
      const slots = ['running', 'warm', 'sleeping'] as const;
      const tally = (slot: string) => settledPool.filter((i) => i.desiredStatus === slot).length;
      const over = slots.some((slot) => tally(slot) > input.counts[slot]);
      expect(over, `seed ${seed}`).toBe(result.recheckAt !== undefined);
      // Once every minimum is over, the counts are met exactly (with what is created).
      const later = { ...input, now: NOW + 3_600_000, instances: settledPool };
      const done = apply(settledPool, materialize(later), ago(0));
      for (const slot of slots) {
        expect(done.filter((i) => i.desiredStatus === slot).length, `seed ${seed}`).toBe(
          input.counts[slot],
        );
      }
    }
  });
});

describe('sleep policy: seed documents', () => {
  const seed: SeedDocument = {
    schemaVersion: 1,
    tenants: [
      {
        tenantId: 'acme',
        network: { netId: 7, subnet: '10.240.7.0/24', gateway: '10.240.7.1' },
        pools: [
          {
            poolId: 'web',
            role: 'worker',
            flake: '.',
            profile: 'minimal',
            vcpus: 1,
            memMib: 256,
            dataDiskMib: 64,
            desiredCounts: { running: 1, warm: 0, sleeping: 0 },
            minRunningSecs: 60,
          },
        ],
      },
    ],
  };
  const existing = (id: string, host: number, since: string): ExistingInstance => ({
    tenantId: 'acme',
    poolId: 'web',
    id,
    ip: `10.240.7.${host}`,
    mac: `02:00:00:00:07:0${host}`,
    status: 'running',
    desiredStatus: 'running',
    statusSince: since,
  });
  const options = { nodeId: 'local', generation: 0, issuedAt: ago(0), randomSuffix: () => 'x' };

  it('keeps a young instance running on the seed path too, until its time is up', () => {
    const vms = [existing('web-a', 3, ago(600)), existing('web-b', 4, ago(20))];
    const now = materialized(seedToDesired(seed, vms, { ...options, now: NOW }));
    expect(now).toEqual({ statuses: ['running', 'running'], recheckAt: at(40) });
    const due = materialized(seedToDesired(seed, vms, { ...options, now: at(40) }));
    expect(due).toEqual({ statuses: ['running', 'stopped'], recheckAt: undefined });
  });

  function materialized(result: SeedResult) {
    const instances = result.document.tenants[0]?.pools[0]?.instances ?? [];
    return { statuses: instances.map((i) => i.desiredStatus), recheckAt: result.recheckAt };
  }
});
