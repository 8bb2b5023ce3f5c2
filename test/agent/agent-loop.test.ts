import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DesiredFileStore } from '../../src/agent/desired/desired-file-store.ts';
import { runAgentLoop } from '../../src/agent/reconcile/agent-loop.ts';
import { coordinatorReporter } from '../../src/agent/reconcile/coordinator-reporter.ts';
import { startAgent } from '../../src/agent/start-agent.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { until } from '../support/until.ts';
import { testAgentConfig } from './agent-harness.ts';
import { freePort } from '../support/free-port.ts';

const qemu = existsSync('/usr/bin/qemu-system-x86_64');
if (!qemu) {
  const message = 'agent loop: qemu-system-x86_64 is absent; install qemu-system-x86';
  if (process.env.CI) throw new Error(message);
  console.warn(`[skip] ${message}`);
}

const quiet = pino({ level: 'silent' });

// Intent on the coordinator → signed document → watch → reconcile → real microVM → report.
describe.skipIf(!qemu)('agent loop against a real coordinator', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('converges running → warm → stopped → gone, and keeps its VM while the coordinator is down', async () => {
    const coordDir = await mkdtemp(join(tmpdir(), 'mvm-loop-c-'));
    const agentDir = await mkdtemp(join(tmpdir(), 'mvm-loop-a-'));
    dirs.push(coordDir, agentDir);
    const settings = (listen: string) => ({
      listen,
      databaseUrl: join(coordDir, 'c.sqlite'),
      clusterCidr: '10.240.0.0/12',
      dataDir: coordDir,
      // runAgentLoop alone sends no heartbeats: node-a must not be taken for lost meanwhile.
      nodeLostAfterMs: 3_600_000,
    });
    let coordinator: RunningCoordinator = await serveCoordinator(
      settings(`127.0.0.1:${await freePort()}`),
      {
        logger: quiet,
      },
    );
    const token = (await readFile(join(coordDir, 'admin.token'), 'utf8')).trim();
    const api: ApiClient = createApiClient({ baseUrl: coordinator.url, token });
    await api.call('registerNode', {
      params: { node: 'node-a' },
      body: { hostname: 'a', arch: 'x86_64', capacity: { vcpus: 4, memMib: 4096, diskGib: 10 } },
    });
    await api.call('createTenant', { body: { id: 't1', netId: 211 } }); // own taps: mvt211-*
    const pool = {
      id: 'workers',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 256,
      dataDiskMib: 16,
    };
    await api.call('createPool', { params: { tenant: 't1' }, body: pool });
    const key = await api.call('getSigningKey', {});

    const agent = await startAgent(testAgentConfig(agentDir, { MVM_NETWORK: 'off' }), {
      mode: 'runtime',
      logger: quiet,
    });
    const abort = new AbortController();
    const loop = runAgentLoop({
      api,
      nodeId: 'node-a',
      trustedKeys: [key.publicKeyPem],
      production: true,
      runtime: agent.runtime,
      store: new DesiredFileStore(join(agentDir, 'desired.json')),
      reporter: coordinatorReporter(api, 'node-a', quiet),
      clock: systemClock,
      signal: abort.signal,
      resyncMs: 1_000,
    });
    const observed = async (status: string) => {
      const [instance] = await api.call('listInstances', { query: { tenant: 't1' } });
      return instance?.status === status ? instance : undefined;
    };
    try {
      await api.call('scalePool', {
        params: { tenant: 't1', pool: 'workers' },
        body: { running: 1 },
      });
      const running = await until('running reported', () => observed('running'));
      expect(running.nodeId).toBe('node-a');
      const [vm] = await agent.runtime.list();
      const pid = vm?.handle?.pid;
      expect(pid && existsSync(`/proc/${pid}`)).toBe(true);

      await api.call('scalePool', {
        params: { tenant: 't1', pool: 'workers' },
        body: { running: 0, warm: 1 },
      });
      await until('warm reported', () => observed('warm'));

      // Coordinator gone: the agent keeps its VM and the document it holds.
      const port = new URL(coordinator.url).port;
      await coordinator.close();
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await agent.runtime.list())[0]?.status).toBe('warm');
      expect(existsSync(`/proc/${String(pid)}`)).toBe(true);
      coordinator = await serveCoordinator(settings(`127.0.0.1:${port}`), { logger: quiet });

      await api.call('scalePool', { params: { tenant: 't1', pool: 'workers' }, body: { warm: 0 } });
      await until('stopped reported', () => observed('stopped'));
      expect(existsSync(`/proc/${String(pid)}`)).toBe(false);

      await api.call('destroyPool', {
        params: { tenant: 't1', pool: 'workers' },
        query: { force: 'true' },
      });
      await until('local VM removed', async () =>
        (await agent.runtime.list()).length === 0 ? true : undefined,
      );
    } finally {
      abort.abort();
      await loop.catch(() => undefined);
      await agent.runtime.destroyAll();
      await agent.close();
      await coordinator.close();
    }
  }, 240_000);
});
