import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceSample } from '../../src/contract/node-report.ts';
import { diffSamples, samplesByKey } from '../../src/core/report-delta.ts';
import {
  DEFAULT_SAMPLE_TOLERANCE as T,
  EXACT_SAMPLES,
  formatGaugeTolerance,
  gaugeMoved,
  parseGaugeTolerance,
  sampleMoved,
  sampleToleranceOf,
} from '../../src/core/sample-tolerance.ts';

const base: InstanceSample = {
  tenant: 'acme',
  pool: 'web',
  instance: 'i1',
  status: 'running',
  pid: 4242,
  cpuPermille: 200,
  rssKib: 262_144,
  diskKib: 10_240,
  workload: { state: 'running', restarts: 1, runningForMs: 120_000 },
};
const moved = (change: Partial<InstanceSample>) => sampleMoved(base, { ...base, ...change }, T);

describe('sample tolerance', () => {
  it('lets gauges drift within their bounds and sends them beyond', () => {
    expect(moved({ cpuPermille: 240 })).toBe(false); // within a quarter of 240
    expect(moved({ cpuPermille: 300 })).toBe(true); // beyond a quarter of 300
    expect(moved({ rssKib: 262_144 + 10_000 })).toBe(false); // under 5%
    expect(moved({ rssKib: 262_144 * 1.2 })).toBe(true);
    expect(moved({ diskKib: 10_240 + 1000 })).toBe(false); // under 1 MiB
    expect(moved({ diskKib: 10_240 + 2048 })).toBe(true);
    // A gauge appearing or going is always sent.
    expect(moved({ snapshotKib: 1 })).toBe(true);
    const { cpuPermille: _, ...noCpu } = base;
    expect(sampleMoved(base, noCpu, T)).toBe(true);
  });

  it('compares counters, identities and statuses exactly', () => {
    expect(moved({ status: 'warm' })).toBe(true);
    expect(moved({ pid: 4243 })).toBe(true);
    expect(moved({ lastActiveAt: '2026-12-05T00:00:00.000Z' })).toBe(true);
    expect(moved({ workload: { state: 'running', restarts: 2, runningForMs: 120_000 } })).toBe(
      true,
    );
    expect(moved({ workload: { state: 'failed', restarts: 1, runningForMs: 120_000 } })).toBe(true);
    expect(moved({ workload: { state: 'running', restarts: 1 } })).toBe(true);
    expect(moved({})).toBe(false);
  });

  it("follows a workload's run time exactly for its first minute, then by half its age", () => {
    const run = (held: number, now: number) =>
      sampleMoved(
        { ...base, workload: { state: 'running', restarts: 1, runningForMs: held } },
        { ...base, workload: { state: 'running', restarts: 1, runningForMs: now } },
        T,
      );
    expect(run(5_000, 10_000)).toBe(true); // a rollout waits for 10 s: it sees it cross
    expect(run(55_000, 60_000)).toBe(true);
    expect(run(60_000, 85_000)).toBe(false);
    expect(run(60_000, 125_000)).toBe(true);
    expect(run(600_000, 5_000)).toBe(true); // a new run
  });

  it('is symmetric, and exact tolerances send any change', () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.nat(1_000_000), (a, b) => {
        expect(gaugeMoved(a, b, T.rssKib)).toBe(gaugeMoved(b, a, T.rssKib));
        expect(gaugeMoved(a, b, EXACT_SAMPLES.rssKib)).toBe(a !== b);
      }),
    );
  });

  it('keeps what the coordinator holds, so small drifts never add up unsent', () => {
    // RSS creeping up 1% a beat: each step is within 5%, the sum is not.
    let held = samplesByKey([base]);
    let rss = base.rssKib ?? 0;
    const sentAt: number[] = [];
    for (let beat = 1; beat <= 20; beat += 1) {
      rss = Math.round(rss * 1.01);
      const delta = diffSamples(held, [{ ...base, rssKib: rss }], (h, n) => sampleMoved(h, n, T));
      if (delta.changed.length > 0) sentAt.push(beat);
      held = delta.held;
      const holds = held.get('acme/web/i1')?.rssKib ?? 0;
      expect(Math.abs(holds - rss)).toBeLessThanOrEqual(T.rssKib.rel * rss);
    }
    expect(sentAt.length).toBeGreaterThanOrEqual(3);
    expect(sentAt.length).toBeLessThan(10);
  });
});

describe('gauge tolerances as settings', () => {
  it('reads ABS,REL% and exact, and refuses anything else', () => {
    expect(parseGaugeTolerance('50,25%')).toEqual({ abs: 50, rel: 0.25 });
    expect(parseGaugeTolerance('1024,2.5%')).toEqual({ abs: 1024, rel: 0.025 });
    expect(parseGaugeTolerance('0,100%')).toEqual({ abs: 0, rel: 1 });
    expect(parseGaugeTolerance('exact')).toEqual({ abs: 0, rel: 0 });
    for (const bad of ['', '50', '50,25', '25%', '-1,5%', '1.5,5%', '5,101%', '5, 5%', '5,5%%']) {
      expect(parseGaugeTolerance(bad)).toBeUndefined();
    }
  });

  it('spells the defaults so they read back the same', () => {
    for (const gauge of [T.cpuPermille, T.rssKib, T.diskKib]) {
      expect(parseGaugeTolerance(formatGaugeTolerance(gauge))).toEqual(gauge);
    }
    expect(formatGaugeTolerance(T.cpuPermille)).toBe('50,25%');
    const settings = { cpuPermille: T.cpuPermille, rssKib: T.rssKib, diskKib: T.diskKib };
    expect(sampleToleranceOf(settings)).toEqual(T);
  });

  it('round-trips any tolerance it can spell', () => {
    fc.assert(
      fc.property(fc.nat({ max: 999_999_999 }), fc.integer({ min: 0, max: 100_000 }), (abs, m) => {
        const gauge = { abs, rel: m / 100_000 };
        expect(parseGaugeTolerance(formatGaugeTolerance(gauge))).toEqual(gauge);
      }),
    );
  });
});
