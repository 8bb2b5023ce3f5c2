/**
 * Rollout time for a pool of 4 real microVMs (QEMU; TCG on hosts whose KVM cannot boot them):
 * the whole path, coordinator (rollout loop, signed documents) → agent (watch, restart on the
 * pinned revision, heartbeat samples) → coordinator. The pool runs the node's dev image; a
 * build of the dev image on the coordinator is the new revision the nodes fetch and boot.
 *   npx tsx bench/rollout.ts [canary] [maxUnavailable]
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { startAgent } from '../src/agent/start-agent.ts';
import { serveCoordinator } from '../src/coordinator/serve.ts';
import type { BuildProgressView } from '../src/contract/revisions.ts';
import { createApiClient, type ApiClient } from '../src/drivers/coordinator-api/api-client.ts';

const canary = Number(process.argv[2] ?? 1);
const maxUnavailable = Number(process.argv[3] ?? 2);
const INSTANCES = 4;
const quiet = pino({ level: 'silent' });
const pool = { tenant: 'bench', pool: 'w' };

async function until(what: string, probe: () => Promise<boolean>, ms = 600_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function built(api: ApiClient, started: BuildProgressView): Promise<string> {
  let view = started;
  while (view.build.status === 'running') {
    await new Promise((done) => setTimeout(done, 200));
    view = await api.call('getBuild', {
      params: { ...pool, build: view.build.id },
      query: { logFrom: view.logNext },
    });
  }
  if (!view.revision) throw new Error(`build failed: ${view.build.error ?? '?'}`);
  return view.revision.id;
}

const dir = await mkdtemp(join(tmpdir(), 'mvm-bench-rollout-'));
const coordinator = await serveCoordinator(
  {
    listen: '127.0.0.1:0',
    databaseUrl: join(dir, 'c.sqlite'),
    clusterCidr: '10.240.0.0/12',
    dataDir: dir,
  },
  { logger: quiet },
);
const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
const api = createApiClient({ baseUrl: coordinator.url, token });
await api.call('registerNode', {
  params: { node: 'n1' },
  body: { hostname: 'n1', arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 20 } },
});
await api.call('createTenant', { body: { id: 'bench', netId: 215 } });
await api.call('createPool', {
  params: { tenant: 'bench' },
  body: { id: 'w', vcpus: 1, memMib: 256, dataDiskMib: 16 },
});
const trustedKey = join(dir, 'signing.pem');
await writeFile(trustedKey, (await api.call('getSigningKey', {})).publicKeyPem);
const config = loadAgentConfig({
  flags: {
    dataDir: join(dir, 'agent'),
    coordinator: coordinator.url,
    token,
    node: 'n1',
    trustedKey,
    heartbeatMs: 1000,
    // Declared, not measured: 4 guests on a small host (an overcommit, as the quickstart's).
    vcpus: 8,
  },
  env: { ...process.env, MVM_NETWORK: 'off' },
});
const agent = await startAgent(config, { logger: quiet });
const instances = () => api.call('listInstances', { query: { tenant: 'bench' } });
try {
  const revision = await built(api, await api.call('startBuild', { params: pool, body: {} }));
  await api.call('scalePool', { params: pool, body: { running: INSTANCES } });
  await until(
    '4 instances running',
    async () => (await instances()).filter((i) => i.status === 'running').length === INSTANCES,
  );
  const start = performance.now();
  await api.call('startRollout', { params: pool, body: { revision, canary, maxUnavailable } });
  let rollout = (await api.call('getPool', { params: pool })).rollout;
  await until('the rollout to end', async () => {
    rollout = (await api.call('getPool', { params: pool })).rollout;
    return rollout?.state !== 'running' && rollout?.state !== 'rolling-back';
  });
  const ms = performance.now() - start;
  const on = (await instances()).filter((i) => i.revision === revision).length;
  const why = rollout?.reason ? ` (${rollout.reason})` : '';
  console.log(
    `rollout of ${INSTANCES} instances (canary ${canary}, max unavailable ${maxUnavailable}): ${rollout?.state ?? '?'}${why} in ${(ms / 1000).toFixed(1)} s, ${on}/${INSTANCES} on the new revision`,
  );
} finally {
  // Stopped first, so no pass of its loop races the clean-up; a runtime-only agent adopts the VMs.
  await agent.close();
  const cleaner = await startAgent(config, { mode: 'runtime', logger: quiet });
  await cleaner.runtime.destroyAll();
  await cleaner.close();
  await coordinator.close();
  await rm(dir, { recursive: true, force: true });
}
