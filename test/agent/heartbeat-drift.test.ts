import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ActivityTracker } from '../../src/agent/activity/activity-tracker.ts';
import { loadAgentConfig } from '../../src/agent/agent-config.ts';
import { ReportDeltas } from '../../src/agent/heartbeat/report-deltas.ts';
import { sendHeartbeats } from '../../src/agent/heartbeat/send-heartbeats.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import type { HeartbeatRequest } from '../../src/contract/heartbeat.ts';
import type { InstanceSample } from '../../src/contract/node-report.ts';
import {
  DEFAULT_SAMPLE_TOLERANCE,
  EXACT_SAMPLES,
  type SampleTolerance,
} from '../../src/core/sample-tolerance.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { ActivityCounters, ActivityProbe } from '../../src/ports/activity-probe.ts';
import { heartbeatWorld } from '../support/heartbeat-world.ts';
import { until } from '../support/until.ts';

const ADMIN = '0764849d436f89ab33174ce3515e28d76bf617557addd315472dd7ff00d4a6f5';
const RSS_KIB = 200_000;

function record(instanceId: string, pid: number): VmRecord {
  return {
    key: `mvm-acme-web-${instanceId}`,
    tenantId: 'acme',
    poolId: 'web',
    instanceId,
    status: 'running',
    spec: { vcpus: 2, memMib: 512, tap: 'mvt42-9', revision: 'dev' },
    handle: { pid },
  } as unknown as VmRecord;
}

/**
 * Idle VMMs as /proc shows them: a little CPU now and then (under 0.2% of a CPU, below the
 * activity threshold) and a resident size that wobbles by up to ±0.5% on every read, or by
 * `jump` once set. The host's own probe is tested with real processes elsewhere; here the
 * subject is what the sender does with what it reads.
 */
class WobblingProbe implements ActivityProbe {
  jump: { key: string; factor: number } | undefined;
  private readonly cpu = new Map<string, { usec: number; at: number }>();
  private turn = 0;

  async read(vm: { key: string }): Promise<ActivityCounters> {
    const now = Date.now();
    const last = this.cpu.get(vm.key) ?? { usec: 0, at: now };
    this.turn += 1;
    const usec = last.usec + Math.floor((now - last.at) * 1000 * 0.002 * (this.turn % 2));
    this.cpu.set(vm.key, { usec, at: now });
    const wobble = 1 + ((this.turn % 5) - 2) * 0.0025;
    const factor = this.jump?.key === vm.key ? this.jump.factor : 1;
    return { cpuUsec: usec, netBytes: 0, rssKib: Math.round(RSS_KIB * wobble * factor) };
  }
}

const samplesOf = (body: HeartbeatRequest, instance: string): InstanceSample[] =>
  body.instances.filter((s) => s.instance === instance);

interface DriftRun {
  sent: HeartbeatRequest[];
  probe: WobblingProbe;
  admin: ApiClient;
  deltas(): HeartbeatRequest[];
  wholes(): HeartbeatRequest[];
  /**
   * Makes `key`'s RSS jump by `factor` as soon as a whole report has gone out, so the next beat
   * (a delta: one follows every whole report) is the first to read it. Resolves with the index
   * in `sent` from which the jump is read.
   */
  jumpAfterWhole(key: string, factor: number): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A real coordinator on SQLite and the real sender reading two wobbling VMMs every 30 ms.
 * `settings`: the tolerance is handed to the sender as the agent's settings hand it
 * (coordinator-link.ts), with the sender's own default deltas, not in a ReportDeltas.
 */
async function driftRun(
  dirs: string[],
  tolerance?: SampleTolerance,
  settings = false,
): Promise<DriftRun> {
  const { coordinator, admin, agentDir } = await heartbeatWorld(dirs, 'mvm-hb1-drift-', ADMIN);
  const sent: HeartbeatRequest[] = [];
  const probe = new WobblingProbe();
  let armed: (() => void) | undefined;
  const api = createApiClient({
    baseUrl: coordinator.url,
    token: ADMIN,
    fetch: async (request) => {
      const body = (await request.clone().json()) as HeartbeatRequest;
      sent.push(body);
      const answer = await fetch(request);
      if (body.report !== undefined && body.report.base === undefined) armed?.();
      return answer;
    },
  });
  const abort = new AbortController();
  const policy = { everyBeats: 5, everyMs: 600_000 };
  const loop = sendHeartbeats({
    api,
    nodeId: 'node-a',
    runtime: { list: async () => [record('i1', 101), record('i2', 102)] },
    tracker: new ActivityTracker(probe),
    dataDir: agentDir,
    everyMs: 30,
    ...(settings
      ? { tolerance }
      : { deltas: new ReportDeltas({ policy, ...(tolerance ? { tolerance } : {}) }) }),
    clock: systemClock,
    signal: abort.signal,
  });
  return {
    sent,
    probe,
    admin,
    deltas: () => sent.filter((b) => b.report?.base !== undefined),
    wholes: () => sent.filter((b) => b.report !== undefined && b.report.base === undefined),
    jumpAfterWhole: (key, factor) =>
      new Promise((resolve) => {
        armed = () => {
          armed = undefined;
          probe.jump = { key, factor };
          resolve(sent.length);
        };
      }),
    async stop() {
      abort.abort();
      await loop;
      await coordinator.close();
    },
  };
}

const enough = (run: DriftRun) =>
  until('12 deltas and 3 sequenced whole reports', () =>
    run.deltas().length >= 12 && run.wholes().length >= 3 ? true : undefined,
  );

describe('delta heartbeats with drifting gauges (the real sender, a real coordinator)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /** How many samples each delta of a run carried, once it ran long enough to judge. */
  async function deltaSizes(tolerance?: SampleTolerance, settings = false): Promise<number[]> {
    const run = await driftRun(dirs, tolerance, settings);
    try {
      await enough(run);
      return run.deltas().map((b) => b.instances.length);
    } finally {
      await run.stop();
    }
  }

  it('leaves out samples that only wobble, sends a real move at once, and every sample whole', async () => {
    const run = await driftRun(dirs);
    const { sent, admin } = run;
    try {
      await enough(run);
      // The second beat on has a CPU figure (the first has no earlier read to compare with),
      // and a wobbling RSS: exact comparison would have sent both samples in every delta.
      const rss = new Set(run.wholes().flatMap((b) => b.instances.map((s) => s.rssKib)));
      expect(rss.size).toBeGreaterThan(1);
      // Whole reports carry every sample as it is; deltas nothing, as nothing moved beyond
      // its tolerance (the CPU figure first appears in the first sequenced whole report).
      for (const body of run.wholes()) {
        expect(body.instances.map((s) => s.instance)).toEqual(['i1', 'i2']);
      }
      expect(run.deltas().map((b) => b.instances.length)).toEqual(run.deltas().map(() => 0));

      // A real move of one gauge goes in the next delta, and only that sample.
      const from = await run.jumpAfterWhole('mvm-acme-web-i2', 1.5);
      const moved = await until('the beat after the jump', () => sent[from]);
      expect(moved.report?.base).toBeDefined();
      expect(moved.instances.map((s) => s.instance)).toEqual(['i2']);
      expect(samplesOf(moved, 'i2')[0]?.rssKib).toBeGreaterThan(RSS_KIB * 1.4);

      // What the coordinator holds is within tolerance of what the agent reads now.
      const stored = await admin.call('getNodeReport', { params: { node: 'node-a' } });
      const bound = (kib: number) => DEFAULT_SAMPLE_TOLERANCE.rssKib.rel * kib;
      const i1 = stored.instances.find((s) => s.instance === 'i1');
      const i2 = stored.instances.find((s) => s.instance === 'i2');
      expect(Math.abs((i1?.rssKib ?? 0) - RSS_KIB)).toBeLessThanOrEqual(bound(RSS_KIB));
      expect(Math.abs((i2?.rssKib ?? 0) - RSS_KIB * 1.5)).toBeLessThanOrEqual(bound(RSS_KIB * 1.5));
    } finally {
      await run.stop();
    }
  }, 120_000);

  it('compared exactly, the same wobble sends both samples in every delta', async () => {
    const sizes = await deltaSizes(EXACT_SAMPLES);
    expect(sizes).toEqual(sizes.map(() => 2));
  }, 120_000);

  it("the agent's tolerance settings reach the sender: exact CPU and memory send the wobble", async () => {
    const config = loadAgentConfig({
      flags: { heartbeatRssTolerance: 'exact' },
      env: { MVM_HEARTBEAT_CPU_TOLERANCE: '0,0%' },
      readText: () => undefined,
    });
    const sizes = await deltaSizes(config.coordinator.sampleTolerance, true);
    expect(sizes).toEqual(sizes.map(() => 2));
  }, 120_000);

  it('the default settings keep the same wobble out of every delta', async () => {
    const config = loadAgentConfig({ flags: {}, env: {}, readText: () => undefined });
    const sizes = await deltaSizes(config.coordinator.sampleTolerance, true);
    expect(sizes).toEqual(sizes.map(() => 0));
  }, 120_000);
});
