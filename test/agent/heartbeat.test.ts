import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ActivityTracker } from '../../src/agent/activity/activity-tracker.ts';
import { nodeUsage } from '../../src/agent/heartbeat/node-usage.ts';
import { heartbeatBody, sendHeartbeats } from '../../src/agent/heartbeat/send-heartbeats.ts';
import { coordinatorReporter } from '../../src/agent/reconcile/coordinator-reporter.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { heartbeatSchema } from '../../src/contract/heartbeat.ts';
import type { HeartbeatRequest, HeartbeatResult } from '../../src/contract/heartbeat.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { silentLogger, type Logger } from '../../src/ports/logger.ts';
import { heartbeatWorld } from '../support/heartbeat-world.ts';
import { until } from '../support/until.ts';

const ADMIN = '0764849d436f89ab33174ce3515e28d76bf617557addd315472dd7ff00d4a6f5';

/** A local VM record as the heartbeat reads it; the rest of the record does not matter here. */
function record(instanceId: string, status: VmRecord['status'], pid: number | null): VmRecord {
  return {
    key: `mvm-acme-web-${instanceId}`,
    tenantId: 'acme',
    poolId: 'web',
    instanceId,
    status,
    spec: { vcpus: 2, memMib: 512, tap: 'mvt42-9', revision: 'dev' },
    handle: pid === null ? null : { pid },
  } as unknown as VmRecord;
}

describe('nodeUsage', () => {
  it('counts running and warm VMs as holding vCPUs and RAM, and every VM by status', () => {
    const records = [
      record('a', 'running', 1),
      record('b', 'warm', 2),
      record('c', 'sleeping', null),
      record('d', 'running', 3),
    ];
    expect(nodeUsage(records, 900)).toEqual({
      vcpus: 6,
      memMib: 1536,
      instances: { running: 2, warm: 1, sleeping: 1 },
      diskFreeMib: 900,
    });
  });
});

describe('nodeUsage with measured VMMs', () => {
  it('says what running and warm VMs hold: resident memory bounded by size, size when unsampled', () => {
    const records = [
      record('a', 'running', 1),
      record('b', 'warm', 2),
      record('c', 'sleeping', null),
      record('d', 'running', 3),
    ];
    const rss = new Map([
      ['mvm-acme-web-a', 60 * 1024],
      ['mvm-acme-web-b', 900 * 1024],
      ['mvm-acme-web-c', 10 * 1024],
    ]);
    const usage = nodeUsage(records, 900, (key) => rss.get(key));
    expect(usage.memMib).toBe(1536);
    // a holds 60, b its size (512) at most, d was not sampled (its size), c sleeps.
    expect(usage.heldMemMib).toBe(60 + 512 + 512);
  });
});

describe('heartbeatBody', () => {
  it("declares the configured vCPUs (an overcommit) with the host's own memory and disk", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-hb-'));
    try {
      const base = {
        api: { call: () => Promise.reject(new Error('not called')) },
        nodeId: 'n',
        runtime: { list: async () => [] },
        dataDir: dir,
        clock: systemClock,
        signal: new AbortController().signal,
      };
      const measured = (await heartbeatBody(base)).capacity;
      const declared = (await heartbeatBody({ ...base, vcpus: 4096 })).capacity;
      expect(measured.vcpus).toBeLessThan(4096);
      expect(declared).toEqual({ ...measured, vcpus: 4096 });
      // Where its published ports listen, only when it runs them.
      expect((await heartbeatBody(base)).usage.publishAddress).toBeUndefined();
      const publishing = await heartbeatBody({ ...base, publishAddress: '0.0.0.0' });
      expect(publishing.usage.publishAddress).toBe('0.0.0.0');
      expect(heartbeatSchema.safeParse(publishing).success).toBe(true);
      const bad = { ...publishing, usage: { ...publishing.usage, publishAddress: 'example.com' } };
      expect(heartbeatSchema.safeParse(bad).success).toBe(false);
      // Worker exec, only when the node runs it (`mvm new openclaw` chooses its sandbox by it).
      expect((await heartbeatBody(base)).usage.workerExec).toBeUndefined();
      const relaying = await heartbeatBody({ ...base, workerExec: true });
      expect(relaying.usage.workerExec).toBe(true);
      expect(heartbeatSchema.safeParse(relaying).success).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('coordinatorReporter.forget', () => {
  it('sends statuses again after forgetting what it sent', async () => {
    let calls = 0;
    const api = {
      baseUrl: 'http://x',
      call: async () => {
        calls += 1;
        return {};
      },
    } as unknown as ApiClient;
    const reporter = coordinatorReporter(api, 'node-a');
    const ref = { tenantId: 'acme', poolId: 'web', instanceId: 'w1' };
    await reporter.report(ref, 'running');
    await reporter.report(ref, 'running');
    expect(calls).toBe(1);
    reporter.forget();
    await reporter.report(ref, 'running');
    expect(calls).toBe(2);
  });
});

describe('agent heartbeats against a real coordinator', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('reports usage and activity, rides out a coordinator restart, and learns it was lost', async () => {
    const {
      coordinator,
      admin: api,
      agentDir,
    } = await heartbeatWorld(dirs, 'mvm-hb-', ADMIN, {
      nodeLostAfterMs: 1_500,
      restartable: true,
    });
    await api.call('createTenant', { body: { id: 'acme' } });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 2, memMib: 512 };
    await api.call('createPool', { params: { tenant: 'acme' }, body: pool });
    await api.call('scalePool', { params: { tenant: 'acme', pool: 'web' }, body: { running: 1 } });
    const [placed] = await api.call('listInstances', { query: { tenant: 'acme' } });
    expect(placed?.nodeId).toBe('node-a');

    // The VM's CPU counter grows by 100 ms on every read: busy in every interval.
    let cpuUsec = 0;
    const tracker = new ActivityTracker({ read: async () => ({ cpuUsec: (cpuUsec += 100_000) }) });
    const records = [record(placed?.id ?? '', 'running', 4242), record('other', 'sleeping', null)];
    const warnings: string[] = [];
    const infos: string[] = [];
    const logger: Logger = {
      ...silentLogger,
      warn: (_, msg) => void warnings.push(msg ?? ''),
      info: (_, msg) => void infos.push(msg ?? ''),
    };
    const beats: HeartbeatResult[] = [];
    let recoveries = 0;
    const run = (signal: AbortSignal) =>
      sendHeartbeats({
        api,
        nodeId: 'node-a',
        runtime: { list: async () => records },
        dataDir: agentDir,
        tracker,
        underlayIp: '10.9.0.7',
        everyMs: 100,
        clock: systemClock,
        signal,
        logger,
        onRecovered: () => (recoveries += 1),
        onBeat: (result) => beats.push(result),
      });
    let abort = new AbortController();
    let loop = run(abort.signal);
    try {
      const node = await until('usage reported', async () => {
        const n = await api.call('getNode', { params: { node: 'node-a' } });
        return n.usage?.vcpus === 2 ? n : undefined;
      });
      expect(node.usage).toMatchObject({ memMib: 512, instances: { running: 1, sleeping: 1 } });
      expect(node.underlayIp).toBe('10.9.0.7');
      expect(node.usage?.diskFreeMib).toBeGreaterThan(0);
      expect(node.capacity.vcpus).toBeGreaterThan(0);
      await until('activity recorded', async () => {
        const [i] = await api.call('listInstances', { query: { tenant: 'acme' } });
        return i?.lastActiveAt ?? undefined;
      });

      // The coordinator goes away and comes back on the same address: the agent carries on.
      await coordinator.stop();
      await until('a failure logged', () => (warnings.length > 0 ? true : undefined));
      await coordinator.start();
      await until('heartbeats through again', () =>
        infos.includes('heartbeats get through again') ? true : undefined,
      );
      expect(warnings).toEqual(['heartbeat failed; retrying every interval']);

      // The agent falls silent long enough to be declared lost; its next heartbeat says so.
      abort.abort();
      await loop;
      await until('node lost', async () => {
        const n = await api.call('getNode', { params: { node: 'node-a' } });
        return n.status === 'lost' ? true : undefined;
      });
      abort = new AbortController();
      loop = run(abort.signal);
      await until('recovered', () => (recoveries > 0 ? true : undefined));
      expect((await api.call('getNode', { params: { node: 'node-a' } })).status).toBe('ready');
      expect(beats.filter((b) => b.recovered)).toHaveLength(1);
    } finally {
      abort.abort();
      await loop;
      await coordinator.close();
    }
  }, 60_000);

  it('sends only what changed once the coordinator takes deltas, and a whole report when asked', async () => {
    const { coordinator, admin, agentDir } = await heartbeatWorld(dirs, 'mvm-hb-d', ADMIN);
    // What the agent sent, as the coordinator got it; `dropAnswer` loses the next answer on
    // the way back (the coordinator did take that heartbeat).
    const sent: HeartbeatRequest[] = [];
    const answers: HeartbeatResult[] = [];
    let dropAnswer = false;
    const api = createApiClient({
      baseUrl: coordinator.url,
      token: ADMIN,
      fetch: async (request) => {
        sent.push((await request.clone().json()) as HeartbeatRequest);
        const response = await fetch(request);
        if (dropAnswer) {
          dropAnswer = false;
          throw new TypeError('fetch failed: answer lost');
        }
        answers.push((await response.clone().json()) as HeartbeatResult);
        return response;
      },
    });
    let records = [record('i1', 'running', 11), record('i2', 'sleeping', null)];
    const abort = new AbortController();
    const loop = sendHeartbeats({
      api,
      nodeId: 'node-a',
      runtime: { list: async () => records },
      dataDir: agentDir,
      everyMs: 50,
      clock: systemClock,
      signal: abort.signal,
    });
    const stored = async () =>
      (await admin.call('getNodeReport', { params: { node: 'node-a' } })).instances.map(
        (s) => `${s.instance}:${s.status ?? ''}`,
      );
    const deltaSent = (from: number) =>
      until('a delta', () => (sent.slice(from).some((b) => b.report?.base) ? true : undefined));
    try {
      // Whole and unsequenced first, then whole and sequenced, then deltas with nothing in them.
      await deltaSent(0);
      expect(sent[0]?.report).toBeUndefined();
      expect(sent[0]?.instances).toHaveLength(2);
      expect(sent[1]?.report).toEqual({ epoch: expect.any(String), seq: 1 });
      expect(sent[1]?.instances).toHaveLength(2);
      expect(sent[2]?.report).toMatchObject({ seq: 2, base: 1 });
      expect(sent[2]?.instances).toEqual([]);
      expect(await stored()).toEqual(['i1:running', 'i2:sleeping']);

      // One instance stops, one goes, one comes: the delta says just that.
      let mark = sent.length;
      records = [record('i1', 'stopped', null), record('i3', 'running', 13)];
      await until('the report follows', async () =>
        (await stored()).join() === 'i1:stopped,i3:running' ? true : undefined,
      );
      const change = sent.slice(mark).find((b) => b.instances.length > 0);
      expect(change?.instances.map((s) => s.instance).sort()).toEqual(['i1', 'i3']);
      expect(change?.report?.removed).toEqual([{ tenant: 'acme', pool: 'web', instance: 'i2' }]);

      // An answer lost on the way back: the next delta names a base the coordinator has moved
      // past, the coordinator asks for a whole report, and the agent sends one at once.
      mark = sent.length;
      const answered = answers.length;
      dropAnswer = true;
      records = [record('i3', 'running', 13)];
      await until('a whole report asked for', () =>
        answers.slice(answered).some((a) => a.fullReport) ? true : undefined,
      );
      await until('a whole report sent', () =>
        sent.slice(mark + 2).some((b) => b.report && b.report.base === undefined)
          ? true
          : undefined,
      );
      const asked = answers.slice(answered).findIndex((a) => a.fullReport);
      expect(asked).toBeGreaterThanOrEqual(0);
      const whole = sent.slice(mark).find((b, n) => n > 0 && b.report?.base === undefined);
      expect(whole?.instances).toHaveLength(1);
      await deltaSent(sent.length);
      expect(await stored()).toEqual(['i3:running']);
    } finally {
      abort.abort();
      await loop;
      await coordinator.close();
    }
  }, 60_000);
});
