/**
 * Lease fencing for real (core/node-lease.ts): the two-node fleet of two-node-fleet.test.ts
 * with a short loss timeout (9 s: a 6 s lease, a 3 s margin) and 1 s heartbeats. One real
 * guest runs on node X; X's link to the coordinator is cut (its veth down, inside its
 * namespace). X's agent pauses the guest once its lease runs out, before the coordinator
 * declares X lost and boots the instance on Y. Throughout, a sampler asserts that no two
 * copies of the instance run at once. When the link comes back, X follows its new document:
 * its paused copy is destroyed, never resumed; Y's copy runs on. Then the same with X's agent
 * killed -9 instead: the fence watchdog it left behind pauses the guest in its place.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vmKey } from '../../src/agent/runtime/vm-key.ts';
import type { InstanceView } from '../../src/contract/resources.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { QmpClient } from '../../src/drivers/qemu/qmp-client.ts';
import { identityOf, noVmm, onNode, soleVmmIn } from './support/fleet-checks.ts';
import { fleetGate } from './support/fleet-gate.ts';
import { converge, vmmPids } from './support/fleet-probes.ts';
import { NODE_IDS, type NodeId } from './support/fleet-topology.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';
import { useFleetLab } from './support/fleet-suite.ts';

const gate = ciSuiteGate('node partition', [await fleetGate('node partition (e2e)')]);

const TENANT = 'part';
const POOL = 'web';
const LOST_AFTER_MS = 9_000;

/** One sample of who runs the instance: X's copy running, Y holding a copy with a VMM. */
interface Sample {
  at: number;
  xRunning: boolean;
  yCopy: boolean;
  lost: boolean;
}

describe.runIf(gate.run)('a node cut off from the coordinator', () => {
  const fleet = useFleetLab({
    name: 'node partition',
    nodes: NODE_IDS,
    tenant: TENANT,
    pool: POOL,
    timings: { nodeLostAfterMs: LOST_AFTER_MS, heartbeatMs: 1_000 },
    logLines: 40,
  });

  /** Samples every 100 ms until stopped; each sample is judged as it is taken. */
  const sampler = (x: NodeId, y: NodeId, instanceId: string) => {
    const samples: Sample[] = [];
    let stop = false;
    const take = async (): Promise<Sample> => {
      const xLocal = (await fleet().agent(x).client.list()).find(
        (i) => i.instanceId === instanceId,
      );
      const ref = { tenantId: TENANT, poolId: POOL, instanceId };
      // The record turns warm only after the pause; the VMM is asked too, to catch a resume.
      const vmState = xLocal
        ? (
            await fleet()
              .agent(x)
              .client.stats(ref)
              .catch(() => undefined)
          )?.vmState
        : undefined;
      const xRunning =
        xLocal !== undefined && (xLocal.status === 'running' || vmState === 'running');
      const yLocal = (await fleet().agent(y).client.list()).find(
        (i) => i.instanceId === instanceId,
      );
      const yCopy = yLocal !== undefined && (yLocal.pid !== null || yLocal.status === 'running');
      const node = await fleet().api.call('getNode', { params: { node: x } });
      return { at: Date.now(), xRunning, yCopy, lost: node.status === 'lost' };
    };
    // Failures are kept for stop(): a sampler that dies silently would prove nothing.
    const done = (async () => {
      while (!stop) {
        samples.push(await take());
        await systemClock.sleep(100);
      }
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    return {
      async stop(): Promise<Sample[]> {
        stop = true;
        const failed = await done;
        if (failed !== undefined) throw failed;
        return samples;
      },
    };
  };

  /** The pool scaled to one running instance: its node X, the other node Y, X's VMM. */
  const oneRunning = async () => {
    await fleet().api.call('scalePool', {
      params: { tenant: TENANT, pool: POOL },
      body: { running: 1 },
    });
    const [before] = await converge(
      fleet().api,
      TENANT,
      'one running instance',
      (list) => list.length === 1 && list[0]?.status === 'running' && list[0].nodeId !== null,
      150_000,
    );
    const instance = before as InstanceView;
    const x = instance.nodeId as NodeId;
    const y = NODE_IDS.find((n) => n !== x) as NodeId;
    const key = vmKey(TENANT, POOL, instance.id);
    const local = (await fleet().agent(x).client.list())[0];
    if (!local) throw new Error(`agent ${x} holds no instance`);
    return { instance, x, y, key, xPid: await soleVmmIn(fleet(), x, local) };
  };

  it('pauses its guest before the instance is re-placed, and destroys its copy when back', async () => {
    const { instance, x, y, key, xPid } = await oneRunning();

    const watch = sampler(x, y, instance.id);
    const ns = fleet().topology.nodeNs[x];
    const cutAt = Date.now();
    await fleet().net.ip(ns, ['link', 'set', 'eth0', 'down']);
    const moved = await converge(
      fleet().api,
      TENANT,
      `the instance running on ${y} after ${x} was cut off`,
      (list) => list[0]?.nodeId === y && list[0].status === 'running',
      150_000,
    );
    expect(identityOf(moved)).toEqual(identityOf([{ ...instance, nodeId: y }]));
    // X's copy is still there, paused, not killed: the partition is not a crash.
    expect(await vmmPids(fleet().agentDir(x), key)).toEqual([xPid]);
    const paused = (await fleet().agent(x).client.list())[0];
    expect(paused?.status).toBe('warm');

    await fleet().net.ip(ns, ['link', 'set', 'eth0', 'up']);
    await waitUntil(
      async () => ((await vmmPids(fleet().agentDir(x), key)).length === 0 ? true : undefined),
      { clock: systemClock, timeoutMs: 90_000, intervalMs: 250, what: `${x} destroying its copy` },
    );
    await waitUntil(
      async () => ((await fleet().agent(x).client.list()).length === 0 ? true : undefined),
      { clock: systemClock, timeoutMs: 30_000, intervalMs: 250, what: `${x} dropping the record` },
    );
    const samples = await watch.stop();

    // The order the fence promises: X paused, then X was declared lost, then Y booted a copy.
    const pausedAt = samples.find((s) => !s.xRunning)?.at ?? Infinity;
    const lostAt = samples.find((s) => s.lost)?.at ?? Infinity;
    const copiedAt = samples.find((s) => s.yCopy)?.at ?? Infinity;
    expect(pausedAt - cutAt).toBeGreaterThan(LOST_AFTER_MS / 3); // held its lease first
    expect(pausedAt).toBeLessThan(lostAt);
    expect(lostAt).toBeLessThanOrEqual(copiedAt);
    expect(samples.some((s) => s.xRunning && s.yCopy)).toBe(false);
    // Back: X is ready again once a heartbeat gets through (one in flight when the link came
    // back may still be waiting out its call timeout), and only Y's copy runs.
    await waitUntil(
      async () =>
        (await fleet().api.call('getNode', { params: { node: x } })).status === 'ready'
          ? true
          : undefined,
      { clock: systemClock, timeoutMs: 30_000, intervalMs: 250, what: `${x} ready again` },
    );
    const after = await fleet().api.call('listInstances', { query: { tenant: TENANT } });
    expect(onNode(after, y)).toMatchObject({ id: instance.id, ip: instance.ip, status: 'running' });
    const yLocal = (await fleet().agent(y).client.list())[0];
    if (!yLocal) throw new Error(`agent ${y} holds no instance`);
    await soleVmmIn(fleet(), y, yLocal);
    const log = await fleet().logTails(400);
    expect(log).toContain('node lease expired');
    await fleet().api.call('scalePool', {
      params: { tenant: TENANT, pool: POOL },
      body: { running: 0 },
    });
    await converge(fleet().api, TENANT, 'stopped', (list) => list[0]?.status === 'stopped');
    await noVmm(fleet(), key);
  }, 360_000);

  it("a dead agent's watchdog pauses its guest before the instance is re-placed", async () => {
    const { instance, x, y, key, xPid } = await oneRunning();
    const qmp = join(fleet().agentDir(x), 'vms', key, 'qmp.sock');
    expect(await qmpStatus(qmp)).toBe('running');

    // X's agent dies; its VMM runs on. Only the watchdog it left behind can fence it now.
    const samples: Sample[] = [];
    let sampling = true;
    const sampled = (async () => {
      while (sampling) {
        const status = await qmpStatus(qmp).catch(() => 'unknown');
        const yLocal = (await fleet().agent(y).client.list()).find(
          (i) => i.instanceId === instance.id,
        );
        const node = await fleet().api.call('getNode', { params: { node: x } });
        samples.push({
          at: Date.now(),
          xRunning: status !== 'paused',
          yCopy: yLocal !== undefined && (yLocal.pid !== null || yLocal.status === 'running'),
          lost: node.status === 'lost',
        });
        await systemClock.sleep(200);
      }
    })();
    const killedAt = Date.now();
    await fleet().killAgent(x);
    await converge(
      fleet().api,
      TENANT,
      `the instance running on ${y} after ${x}'s agent died`,
      (list) => list[0]?.nodeId === y && list[0].status === 'running',
      150_000,
    );
    sampling = false;
    await sampled;
    // X's copy is paused, not killed: the restarted agent may resume it if it stays.
    expect(await vmmPids(fleet().agentDir(x), key)).toEqual([xPid]);
    expect(await qmpStatus(qmp)).toBe('paused');
    const pausedAt = samples.find((s) => !s.xRunning)?.at ?? Infinity;
    const lostAt = samples.find((s) => s.lost)?.at ?? Infinity;
    const copiedAt = samples.find((s) => s.yCopy)?.at ?? Infinity;
    expect(pausedAt - killedAt).toBeGreaterThan(LOST_AFTER_MS / 3); // its lease ran out first
    expect(pausedAt).toBeLessThan(lostAt);
    expect(lostAt).toBeLessThanOrEqual(copiedAt);
    expect(samples.some((s) => s.xRunning && s.yCopy)).toBe(false);
    const watchdogLog = await readFile(join(fleet().agentDir(x), 'fence-watchdog.log'), 'utf8');
    expect(watchdogLog).toContain('pausing its re-placeable instances');
    expect(watchdogLog).toContain(`"instance":"${TENANT}/${POOL}/${instance.id}"`);

    // Back: the restarted agent adopts the paused copy, and its document destroys it.
    await fleet().startAgent(x);
    await waitUntil(
      async () => ((await vmmPids(fleet().agentDir(x), key)).length === 0 ? true : undefined),
      { clock: systemClock, timeoutMs: 90_000, intervalMs: 250, what: `${x} destroying its copy` },
    );
    const yLocal = (await fleet().agent(y).client.list())[0];
    if (!yLocal) throw new Error(`agent ${y} holds no instance`);
    await soleVmmIn(fleet(), y, yLocal);
    await fleet().api.call('scalePool', {
      params: { tenant: TENANT, pool: POOL },
      body: { running: 0 },
    });
    await converge(fleet().api, TENANT, 'stopped', (list) => list[0]?.status === 'stopped');
    await noVmm(fleet(), key);
  }, 360_000);
});

/** QEMU's own word on its guest (QMP query-status), as the watchdog left it. */
async function qmpStatus(socket: string): Promise<string> {
  const qmp = await QmpClient.connect(socket, { timeoutMs: 5_000 });
  try {
    const answer = await qmp.execute<{ status?: string }>('query-status');
    return answer.status ?? 'unknown';
  } finally {
    qmp.close();
  }
}
