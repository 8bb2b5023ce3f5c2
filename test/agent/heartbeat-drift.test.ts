import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ActivityTracker } from '../../src/agent/activity/activity-tracker.ts';
import { ReportDeltas } from '../../src/agent/heartbeat/report-deltas.ts';
import { sendHeartbeats } from '../../src/agent/heartbeat/send-heartbeats.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import type { HeartbeatRequest } from '../../src/contract/heartbeat.ts';
import type { InstanceSample } from '../../src/contract/node-report.ts';
import { DEFAULT_SAMPLE_TOLERANCE } from '../../src/core/sample-tolerance.ts';
import { serveCoordinator } from '../../src/coordinator/serve.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { ActivityCounters, ActivityProbe } from '../../src/ports/activity-probe.ts';
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

describe('delta heartbeats with drifting gauges (the real sender, a real coordinator)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('leaves out samples that only wobble, sends a real move at once, and every sample whole', async () => {
    const coordDir = await mkdtemp(join(tmpdir(), 'mvm-hb1-drift-c-'));
    const agentDir = await mkdtemp(join(tmpdir(), 'mvm-hb1-drift-a-'));
    dirs.push(coordDir, agentDir);
    const coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(coordDir, 'c.sqlite'),
        clusterCidr: '10.240.0.0/12',
        adminToken: ADMIN,
        dataDir: coordDir,
      },
      { logger: pino({ level: 'silent' }) },
    );
    const admin = createApiClient({ baseUrl: coordinator.url, token: ADMIN });
    await admin.call('registerNode', {
      params: { node: 'node-a' },
      body: { hostname: 'a', arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 10 } },
    });
    const sent: HeartbeatRequest[] = [];
    const api = createApiClient({
      baseUrl: coordinator.url,
      token: ADMIN,
      fetch: async (request) => {
        sent.push((await request.clone().json()) as HeartbeatRequest);
        return fetch(request);
      },
    });
    const probe = new WobblingProbe();
    const abort = new AbortController();
    const loop = sendHeartbeats({
      api,
      nodeId: 'node-a',
      runtime: { list: async () => [record('i1', 101), record('i2', 102)] },
      tracker: new ActivityTracker(probe),
      dataDir: agentDir,
      everyMs: 30,
      deltas: new ReportDeltas({ policy: { everyBeats: 5, everyMs: 600_000 } }),
      clock: systemClock,
      signal: abort.signal,
    });
    const deltas = () => sent.filter((b) => b.report?.base !== undefined);
    const wholes = () => sent.filter((b) => b.report !== undefined && b.report.base === undefined);
    try {
      await until('12 deltas and 3 sequenced whole reports', () =>
        deltas().length >= 12 && wholes().length >= 3 ? true : undefined,
      );
      // The second beat on has a CPU figure (the first has no earlier read to compare with),
      // and a wobbling RSS: exact comparison would have sent both samples in every delta.
      const rss = new Set(wholes().flatMap((b) => b.instances.map((s) => s.rssKib)));
      expect(rss.size).toBeGreaterThan(1);
      // Whole reports carry every sample as it is; deltas nothing, as nothing moved beyond
      // its tolerance (the CPU figure first appears in the first sequenced whole report).
      for (const body of wholes()) {
        expect(body.instances.map((s) => s.instance)).toEqual(['i1', 'i2']);
      }
      expect(deltas().map((b) => b.instances.length)).toEqual(deltas().map(() => 0));

      // A real move of one gauge goes in the next delta, and only that sample.
      const from = sent.length;
      probe.jump = { key: 'mvm-acme-web-i2', factor: 1.5 };
      const moved = await until('a delta with the moved sample', () =>
        sent.slice(from).find((b) => b.report?.base !== undefined && b.instances.length > 0),
      );
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
      abort.abort();
      await loop;
      await coordinator.close();
    }
  }, 120_000);
});
