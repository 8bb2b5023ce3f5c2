/**
 * Time from `pool scale` on the coordinator's API to the agent having acted on it: one real
 * microVM (QEMU; TCG on hosts whose KVM cannot boot it) toggled running ⇄ warm N times through
 * the whole path: API → scheduler → signed document → long-poll watch → verify → reconcile →
 * pause/resume. Goal: median under 100 ms (the reference design polled every 15-30 s).
 *   npx tsx bench/scale-to-agent.ts [N]
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { startAgent } from '../src/agent/start-agent.ts';
import { serveCoordinator } from '../src/coordinator/serve.ts';
import { createApiClient } from '../src/drivers/coordinator-api/api-client.ts';
import { percentile } from './support/stats.ts';

const runs = Number(process.argv[2] ?? 10);
const quiet = pino({ level: 'silent' });

async function until(probe: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}

const dir = await mkdtemp(join(tmpdir(), 'mvm-bench-'));
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
  body: { hostname: 'n1', arch: 'x86_64', capacity: { vcpus: 4, memMib: 4096, diskGib: 10 } },
});
await api.call('createTenant', { body: { id: 'bench', netId: 214 } });
await api.call('createPool', {
  params: { tenant: 'bench' },
  body: { id: 'w', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256, dataDiskMib: 16 },
});
const trustedKey = join(dir, 'signing.pem');
await writeFile(trustedKey, (await api.call('getSigningKey', {})).publicKeyPem);
// The agent as `mvm agent serve --node n1` runs it (heartbeats, watch, reconcile), networking off.
const config = loadAgentConfig({
  flags: {
    dataDir: join(dir, 'agent'),
    coordinator: coordinator.url,
    token,
    node: 'n1',
    trustedKey,
  },
  env: { ...process.env, MVM_NETWORK: 'off' },
});
const agent = await startAgent(config, { logger: quiet });
const localStatus = async () => (await agent.runtime.list())[0]?.status;
const scale = (running: number, warm: number) =>
  api.call('scalePool', { params: { tenant: 'bench', pool: 'w' }, body: { running, warm } });
try {
  await scale(1, 0);
  await until(async () => (await localStatus()) === 'running');
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const [running, warm, want] = i % 2 === 0 ? [0, 1, 'warm'] : [1, 0, 'running'];
    const start = performance.now();
    await scale(running, warm);
    await until(async () => (await localStatus()) === want);
    times.push(performance.now() - start);
  }
  const at = (q: number) => percentile(times, q * 100);
  console.log(`pool scale → agent acted (pause/resume done), N=${runs}`);
  console.log(
    `median ${at(0.5).toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms, min ${at(0).toFixed(1)} ms; goal < 100 ms`,
  );
} finally {
  // Stopped first, so no pass of its loop races the clean-up; a runtime-only agent adopts the VM.
  await agent.close();
  const cleaner = await startAgent(config, { mode: 'runtime', logger: quiet });
  await cleaner.runtime.destroyAll();
  await cleaner.close();
  await coordinator.close();
  await rm(dir, { recursive: true, force: true });
}
