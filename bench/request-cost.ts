/**
 * The coordinator's CPU per request over HTTP, as `coordinator serve` runs it (@hono/node-server
 * on loopback, a real pino logger at info to /dev/null), for a pool's running ⇄ warm toggle on
 * Postgres seeded like bench/toggle-cpu.ts (100 nodes, tenants of 200 placed running
 * instances; no watchers, so no documents). A child process (support/request-replay.ts) sends
 * the toggles over one keep-alive socket, so this process's CPU is the coordinator's alone.
 * `--read` sends `GET …/pools/w` instead (the request path with one cheap read), `--health`
 * `GET /v1/health` (the request path alone: no token, no store). Run with
 * `node --cpu-prof` to see where the request path's own time goes; compare builds by running
 * it from each, alternated.
 *   npx tsx bench/request-cost.ts [--instances 2000] [--rounds 5] [--requests 300] [--read]
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { tenantId } from './support/fleet-seed.ts';
import { BENCH_ADMIN } from './support/in-process-coordinator.ts';
import type { ReplayJob, ReplayRequest } from './support/request-replay.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { median } from './support/stats.ts';

const { values: flags } = parseArgs({
  options: {
    instances: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '300' },
    read: { type: 'boolean', default: false },
    health: { type: 'boolean', default: false },
  },
});
const size = Number(flags.instances);
const rounds = Number(flags.rounds);
const perRound = Number(flags.requests);
const PER_TENANT = 200;
const NODES = 100;

const shape = { nodes: NODES, tenants: Math.max(1, size / PER_TENANT), perTenant: PER_TENANT };
const fleet = await seededFleet('postgres', shape, {
  logger: pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true })),
});
const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
  const listening = serve({ fetch: fleet.app.fetch, hostname: '127.0.0.1', port: 0 }, () =>
    resolve(listening),
  );
});
try {
  const pool = `/tenants/${tenantId(0)}/pools/w`;
  const toggle = (i: number) => ({ running: PER_TENANT - (i % 2), warm: i % 2 });
  const request = (i: number): ReplayRequest =>
    flags.health
      ? { method: 'GET', path: '/health', body: undefined }
      : flags.read
        ? { method: 'GET', path: pool, body: undefined }
        : { method: 'POST', path: `${pool}/scale`, body: toggle(i) };
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  await replay(
    url,
    Array.from({ length: 100 }, (_, i) => request(i)),
  ); // warm up: JIT, caches
  const perRequest: number[] = [];
  const window0 = process.hrtime.bigint() / 1000n;
  for (let r = 0; r < rounds; r += 1) {
    const requests = Array.from({ length: perRound }, (_, i) => request(i));
    const cpu = process.cpuUsage();
    await replay(url, requests);
    const used = process.cpuUsage(cpu);
    perRequest.push((used.user + used.system) / 1000 / perRound);
  }
  // The measured window in a --cpu-prof profile's clock (µs), for tools that read one.
  console.error(`profile window ${window0} ${process.hrtime.bigint() / 1000n}`);
  const shown = perRequest.map((ms) => ms.toFixed(2)).join(', ');
  const what = flags.health ? 'health' : flags.read ? 'pool read' : 'toggle';
  console.log(
    `request-cost, ${what} over HTTP on postgres (${size} instances), coordinator CPU per request (ms), ${rounds} rounds of ${perRound}: ${shown}; median ${median(perRequest).toFixed(2)}, least ${Math.min(...perRequest).toFixed(2)}`,
  );
} finally {
  server.close();
  await fleet.close();
}

/** Has a child process send `requests` over one keep-alive socket; resolves when all are answered. */
async function replay(url: string, requests: ReplayRequest[]): Promise<void> {
  const child = fork(new URL('./support/request-replay.ts', import.meta.url));
  const job: ReplayJob = { url, token: BENCH_ADMIN, requests };
  await new Promise<void>((resolve) => {
    child.once('message', () => resolve());
    child.send(job);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (answer: { error?: string }) => {
      child.kill();
      if (answer.error !== undefined) reject(new Error(answer.error));
      else resolve();
    });
    child.send('go');
  });
}
