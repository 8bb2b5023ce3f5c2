import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { sendHeartbeats } from '../../src/agent/heartbeat/send-heartbeats.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { until } from '../support/until.ts';
import { testAgentConfig } from './agent-harness.ts';

const qemu = existsSync('/usr/bin/qemu-system-x86_64');
if (!qemu) {
  const message = 'node loss: qemu-system-x86_64 is absent; install qemu-system-x86';
  if (process.env.CI) throw new Error(message);
  console.warn(`[skip] ${message}`);
}

const ADMIN = '6c69e2698d09800c5d9fb4f9734d495560c37b3ee908a3f4da7992d2ef03ea55';
const quiet = pino({ level: 'silent' });

// A node falls silent with a real VM on it; the coordinator moves the instance; when the node
// comes back its agent finds the instance gone from its document and tears the old VM down.
describe.skipIf(!qemu)('a lost node that returns', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('destroys the VMs that were re-placed elsewhere while it was lost', async () => {
    const coordDir = await mkdtemp(join(tmpdir(), 'mvm-loss-c-'));
    const agentDir = await mkdtemp(join(tmpdir(), 'mvm-loss-a-'));
    dirs.push(coordDir, agentDir);
    const coordinator: RunningCoordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(coordDir, 'c.sqlite'),
        clusterCidr: '10.240.0.0/12',
        adminToken: ADMIN,
        dataDir: coordDir,
        nodeLostAfterMs: 2_000,
      },
      { logger: quiet },
    );
    const api = createApiClient({ baseUrl: coordinator.url, token: ADMIN });
    const register = (node: string) =>
      api.call('registerNode', {
        params: { node },
        body: { hostname: node, arch: 'x86_64', capacity: { vcpus: 4, memMib: 4096, diskGib: 10 } },
      });
    await register('node-a');
    await api.call('createTenant', { body: { id: 't1', netId: 213 } });
    const pool = {
      id: 'web',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 256,
      dataDiskMib: 16,
    };
    await api.call('createPool', { params: { tenant: 't1' }, body: pool });
    await api.call('scalePool', { params: { tenant: 't1', pool: 'web' }, body: { running: 1 } });
    const current = async () => (await api.call('listInstances', { query: { tenant: 't1' } }))[0];

    // node-a's agent, as `mvm agent serve --node node-a` runs it: heartbeats and the loop.
    const config = testAgentConfig(
      agentDir,
      { MVM_NETWORK: 'off' },
      { coordinator: coordinator.url, token: ADMIN, node: 'node-a', heartbeatMs: 200 },
    );
    const start = (): Promise<AgentHandle> => startAgent(config, { logger: quiet });
    const nodeB = new AbortController();
    let agent = await start();
    let nodeBBeats: Promise<void> = Promise.resolve();
    try {
      const running = await until('running on node-a', async () => {
        const i = await current();
        return i?.status === 'running' ? i : undefined;
      });
      expect(running.nodeId).toBe('node-a');
      const pid = (await agent.runtime.list())[0]?.handle?.pid;
      expect(pid !== undefined && existsSync(`/proc/${pid}`)).toBe(true);

      // node-b joins and keeps beating; node-a's agent stops talking (its VM keeps running).
      await register('node-b');
      nodeBBeats = sendHeartbeats({
        api,
        nodeId: 'node-b',
        runtime: { list: async () => [] },
        dataDir: agentDir,
        everyMs: 200,
        clock: systemClock,
        signal: nodeB.signal,
      });
      // The agent stops (its VM keeps running): no more heartbeats from node-a.
      await agent.close();
      const moved = await until('re-placed on node-b', async () => {
        const i = await current();
        return i?.nodeId === 'node-b' ? i : undefined;
      });
      expect(moved).toMatchObject({
        id: running.id,
        ip: running.ip,
        mac: running.mac,
        status: 'created',
        desiredStatus: 'running',
        failureReason:
          'rescheduled from lost node node-a; its running state (RAM and data disk) was on that node',
      });
      expect((await api.call('getNode', { params: { node: 'node-a' } })).status).toBe('lost');
      expect(existsSync(`/proc/${String(pid)}`)).toBe(true);

      // node-a's agent returns (adopting its VM): the node is ready again and the old copy goes.
      agent = await start();
      expect(agent.recovery.adopted).toHaveLength(1);
      await until('node-a ready', async () =>
        (await api.call('getNode', { params: { node: 'node-a' } })).status === 'ready'
          ? true
          : undefined,
      );
      await until('old VM destroyed', async () =>
        (await agent.runtime.list()).length === 0 ? true : undefined,
      );
      expect(existsSync(`/proc/${String(pid)}`)).toBe(false);
      expect(await current()).toMatchObject({ nodeId: 'node-b', ip: running.ip, mac: running.mac });
    } finally {
      nodeB.abort();
      await nodeBBeats;
      await agent.runtime.destroyAll();
      await agent.close();
      await coordinator.close();
    }
  }, 240_000);
});
