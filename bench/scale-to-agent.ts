/**
 * Time from `pool scale` on the coordinator's API to the agent having acted on it: one real
 * microVM (QEMU; TCG on hosts whose KVM cannot boot it) toggled running ⇄ warm N times through
 * the whole path: API → scheduler → signed document → long-poll watch → verify → reconcile →
 * pause/resume. Goal: median under 100 ms (the reference design polled every 15-30 s).
 *   npx tsx bench/scale-to-agent.ts [N]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DesiredFileStore } from '../src/agent/desired/desired-file-store.ts';
import { createAgent } from '../src/agent/main.ts';
import { runAgentLoop } from '../src/agent/reconcile/agent-loop.ts';
import { coordinatorReporter } from '../src/agent/reconcile/coordinator-reporter.ts';
import { serveCoordinator } from '../src/coordinator/serve.ts';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import { createApiClient } from '../src/drivers/coordinator-api/api-client.ts';
import { percentile } from './support/stats.ts';

const runs = Number(process.argv[2] ?? 10);
const quiet = pino({ level: 'silent' });
process.env.MVM_NETWORK = 'off';

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
    // runAgentLoop alone sends no heartbeats: n1 must not be taken for lost during the runs.
    nodeLostAfterMs: 3_600_000,
  },
  { logger: quiet },
);
const api = createApiClient({
  baseUrl: coordinator.url,
  token: (await readFile(join(dir, 'admin.token'), 'utf8')).trim(),
});
await api.call('registerNode', {
  params: { node: 'n1' },
  body: { hostname: 'n1', arch: 'x86_64', capacity: { vcpus: 4, memMib: 4096, diskGib: 10 } },
});
await api.call('createTenant', { body: { id: 'bench', netId: 214 } });
await api.call('createPool', {
  params: { tenant: 'bench' },
  body: { id: 'w', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256, dataDiskMib: 16 },
});
const agent = await createAgent({ dataDir: join(dir, 'agent'), logger: quiet });
const abort = new AbortController();
const loop = runAgentLoop({
  coordinatorUrl: coordinator.url,
  token: (await readFile(join(dir, 'admin.token'), 'utf8')).trim(),
  nodeId: 'n1',
  trustedKeys: [(await api.call('getSigningKey', {})).publicKeyPem],
  production: true,
  runtime: agent.runtime,
  store: new DesiredFileStore(join(dir, 'desired.json')),
  reporter: coordinatorReporter(api, 'n1'),
  clock: systemClock,
  signal: abort.signal,
});
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
  abort.abort();
  await loop.catch(() => undefined);
  await agent.runtime.destroyAll();
  await agent.close();
  await coordinator.close();
  await rm(dir, { recursive: true, force: true });
}
