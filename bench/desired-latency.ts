/**
 * Time from a pool scale on the API to the agent holding the new, verified desired-state
 * document: a real coordinator over HTTP (SQLite in a temp dir), one agent-side watcher
 * long-polling with watchDesired. Goal: median under 100 ms.
 * `npx tsx bench/desired-latency.ts [N]` (default 50).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchDesired } from '../src/agent/desired/watch-desired.ts';
import { serveCoordinator } from '../src/coordinator/serve.ts';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import { createApiClient } from '../src/drivers/coordinator-api/api-client.ts';
import { percentile } from './support/stats.ts';

const runs = Number(process.argv[2] ?? process.env['MVM_BENCH_RUNS'] ?? 50);
// The coordinator refuses a weak admin secret: a fresh random one per run.
const token = randomBytes(32).toString('hex');

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-bench-desired-'));
  const coordinator = await serveCoordinator({
    listen: '127.0.0.1:0',
    databaseUrl: join(dir, 'coordinator.sqlite'),
    clusterCidr: '10.240.0.0/12',
    adminToken: token,
    dataDir: dir,
  });
  const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${coordinator.url}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok)
      throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const stop = new AbortController();
  try {
    await api('POST', '/tenants', { id: 'bench', netId: 5, subnet: '10.240.5.0/24' });
    await api('POST', '/tenants/bench/pools', {
      id: 'workers',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 256,
    });
    const capacity = { vcpus: 64, memMib: 65536, diskGib: 100 };
    await api('PUT', '/nodes/node-1', { hostname: 'bench', arch: 'x86_64', capacity });
    const key = (await api('GET', '/signing-key')) as { publicKeyPem: string };

    let generation = 0;
    let arrived: () => void = () => {};
    const watching = watchDesired({
      api: createApiClient({ baseUrl: coordinator.url, token }),
      nodeId: 'node-1',
      trustedKeys: [key.publicKeyPem],
      production: true,
      lastGeneration: 0,
      clock: systemClock,
      signal: stop.signal,
      onDocument: (verified) => {
        generation = verified.document.generation;
        arrived();
      },
      onError: (error) => console.error('watch error:', error),
    });
    const next = (after: number) =>
      new Promise<void>((resolve) => {
        arrived = () => {
          if (generation > after) resolve();
        };
        arrived();
      });
    await next(0);

    const samples: number[] = [];
    for (let i = 0; i < runs; i += 1) {
      const before = generation;
      const started = performance.now();
      await api('POST', '/tenants/bench/pools/workers/scale', { running: i % 2 === 0 ? 2 : 1 });
      await next(before);
      samples.push(performance.now() - started);
    }
    stop.abort();
    await watching;
    const median = percentile(samples, 50);
    console.log(
      `scale → agent holds verified document, N=${runs}: median ${median.toFixed(1)} ms, p90 ${percentile(samples, 90).toFixed(1)} ms, max ${Math.max(...samples).toFixed(1)} ms (goal: median < 100 ms) ${median < 100 ? 'OK' : 'MISSED'}`,
    );
  } finally {
    stop.abort();
    await coordinator.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
