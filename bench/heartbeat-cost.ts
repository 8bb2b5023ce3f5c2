/**
 * What one heartbeat costs the coordinator, apart from the host's load: an in-process
 * coordinator (createCoordinatorApp, no HTTP) on a fresh SQLite or Postgres store, one node
 * with 100 placed instances, then `--beats` heartbeats of 100 samples each (every instance
 * with the same activity time after the first beat, as idle instances report it). Prints the
 * coordinator's CPU time per heartbeat (this process: the requests are in-process) and, on
 * Postgres, the statements sent per heartbeat (counted at pg's Client.query).
 *
 * `--delta F`: the agent's delta heartbeats (agent/heartbeat/report-deltas.ts, the real
 * agent's code) with a fraction F of the samples changed each beat (their CPU figure jumps
 * between 1% and 50% of a CPU), and a whole report every 12 beats as the agent sends it.
 * `--drift`: every sample's CPU and RSS also wobble a little each beat, as idle VMMs' do
 * (within the agent's tolerance, core/sample-tolerance.ts); `--exact` compares samples
 * exactly, as agents did before that tolerance. The bodies are built before the clock starts,
 * so only the coordinator's side is timed.
 *
 * `--http`: the coordinator listens on loopback (@hono/node-server, as serve.ts does) and a child
 * process (support/request-replay.ts) sends the same requests over one keep-alive socket, so
 * the CPU figure is still the coordinator's alone, with the HTTP server's share in it.
 * `--log`: a real pino logger at info (to /dev/null), as `coordinator serve` logs.
 * `--status`: status reports (PUT …/status, an unchanged `running`, round the 100 instances)
 * instead of heartbeats; each instance is reported running once before the clock starts.
 * `--credit steady|shrink`: each report says what its instances hold (`heldMemMib`), the same
 * every beat, or CREDIT_SHRINK_STEP_MIB more every beat (the worst case: the credit shrinks
 * by the step each time, the node stays far under its capacity, and every heartbeat reads
 * the node's loads to find it so; docs/scale.md "overcommit3"). At most 390 beats.
 *
 *   npx tsx bench/heartbeat-cost.ts [--pg] [--beats 500] [--delta 0.05 [--drift] [--exact]]
 *     [--http] [--log] [--status] [--credit steady|shrink]
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { ReportDeltas } from '../src/agent/heartbeat/report-deltas.ts';
import { EXACT_SAMPLES } from '../src/core/sample-tolerance.ts';
import type { InstanceSample } from '../src/contract/node-report.ts';
import { createCoordinatorApp } from '../src/coordinator/app.ts';
import { CREDIT_SHRINK_STEP_MIB } from '../src/coordinator/services/node-health-service.ts';
import { openStore } from '../src/db/open-store.ts';
import { freshDatabase, quotas } from './support/fleet-seed.ts';
import { tallyPgStatements } from './support/pg-statement-tally.ts';
import type { ReplayJob, ReplayRequest } from './support/request-replay.ts';

const { values: flags } = parseArgs({
  options: {
    pg: { type: 'boolean', default: false },
    beats: { type: 'string', default: '500' },
    delta: { type: 'string' },
    drift: { type: 'boolean', default: false },
    exact: { type: 'boolean', default: false },
    http: { type: 'boolean', default: false },
    log: { type: 'boolean', default: false },
    status: { type: 'boolean', default: false },
    credit: { type: 'string' },
  },
});
const beats = Number(flags.beats);
const changed = flags.delta === undefined ? undefined : Number(flags.delta);
if (changed !== undefined && !(changed >= 0 && changed <= 1)) throw new Error('--delta is 0..1');
const ADMIN = `mvm_${'b'.repeat(43)}`;

const statements = tallyPgStatements();

const database = await freshDatabase(flags.pg ? 'postgres' : 'sqlite');
const store = await openStore(database.url);
try {
  let n = 0;
  const { app, services } = createCoordinatorApp({
    store,
    clock: { now: () => new Date(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
    clusterCidr: '10.240.0.0/12',
    version: 'bench',
    randomSuffix: () => `i${(n += 1)}`,
    ...(flags.log
      ? { logger: pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true })) }
      : {}),
  });
  await services.adminToken.adopt({ secret: ADMIN, home: { kind: 'configured' }, source: 'bench' });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await app.request(`/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as unknown;
  };
  const capacity = { vcpus: 256, memMib: 262_144, diskGib: 1000 };
  await call('PUT', '/nodes/node-1', { hostname: 'node-1', arch: 'x86_64', capacity });
  await call('POST', '/tenants', { id: 'acme', quotas });
  await call('POST', '/tenants/acme/pools', {
    id: 'web',
    flake: '.',
    profile: 'minimal',
    vcpus: 1,
    memMib: 256,
  });
  await call('POST', '/tenants/acme/pools/web/scale', { running: 100 });
  const ids = (await store.instances.list({ tenantId: 'acme' })).map((i) => i.id);
  const activeAt = new Date(Date.now() - 1000).toISOString();
  const body = {
    capacity,
    usage: { vcpus: 100, memMib: 25_600, instances: { running: 100 }, diskFreeMib: 10_000 },
    instances: ids.map((id) => ({
      tenant: 'acme',
      pool: 'web',
      instance: id,
      status: 'running' as const,
      cpuPermille: 10,
      lastActiveAt: activeAt,
    })),
  };
  const bodies = withCredit(
    changed === undefined ? Array.from({ length: beats }, () => body) : deltaBodies(body),
  );
  const [firstBody] = withCredit([body], 1);
  const first = (await call('POST', '/nodes/node-1/heartbeat', firstBody)) as {
    deltas?: boolean;
  };
  if (changed !== undefined && first.deltas !== true) throw new Error('no delta heartbeats here');
  const requests: ReplayRequest[] = flags.status
    ? Array.from({ length: beats }, (_, i) => ({
        method: 'PUT',
        path: `/nodes/node-1/instances/acme/web/${ids[i % ids.length] ?? ''}/status`,
        body: { status: 'running' },
      }))
    : bodies.map((each) => ({ method: 'POST', path: '/nodes/node-1/heartbeat', body: each }));
  // Each instance reported running once before the clock: the figure is the unchanged report.
  if (flags.status)
    for (const r of requests.slice(0, ids.length)) await call(r.method, r.path, r.body);
  const replay = flags.http ? await overHttp(app.fetch, requests) : undefined;
  const cpu0 = process.cpuUsage();
  const statements0 = statements.sent;
  const started = performance.now();
  let asked = 0;
  if (replay) asked = await replay();
  else {
    for (const { method, path, body: each } of requests) {
      const answer = (await call(method, path, each)) as { fullReport?: boolean };
      if (answer.fullReport === true) asked += 1;
    }
  }
  if (asked > 0) throw new Error(`${asked} deltas found no base`);
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const store_ = flags.pg ? 'postgres' : 'sqlite';
  const sent = bodies.reduce((n, b) => n + b.instances.length, 0) / beats;
  const what = flags.status ? 'status reports' : 'heartbeats';
  const how = `${flags.http ? 'over HTTP' : 'in process'}${flags.log ? ', logged at info' : ''}`;
  const credit = flags.credit === undefined ? '' : `, credit ${flags.credit}`;
  const mode = flags.status
    ? 'an unchanged running status'
    : changed === undefined
      ? 'whole reports'
      : `deltas (${changed * 100}% changed${flags.drift ? ', all drifting' : ''}` +
        `${flags.exact ? ', compared exactly' : ''}, ${sent.toFixed(1)} samples sent each)`;
  console.log(
    `heartbeat-cost on ${store_} ${how}, ${mode}: ${beats} ${what}` +
      `${flags.status ? '' : ` of ${ids.length} samples`}: ` +
      `${(cpuMs / beats).toFixed(2)} ms CPU and ${(wallMs / beats).toFixed(2)} ms wall each` +
      credit +
      (flags.pg ? `, ${((statements.sent - statements0) / beats).toFixed(1)} statements each` : ''),
  );
} finally {
  await store.close();
  await database.drop();
}

/**
 * Serves `fetch` on a loopback port and hands the requests to a child process (before the
 * clock starts); the function returned has it send them, and resolves with the count of
 * answers that asked for a whole report.
 */
async function overHttp(
  fetch: (request: Request) => Response | Promise<Response>,
  requests: ReplayRequest[],
): Promise<() => Promise<number>> {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const listening = serve({ fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  const child = fork(new URL('./support/request-replay.ts', import.meta.url));
  const job: ReplayJob = { url: `http://127.0.0.1:${port}`, token: ADMIN, requests };
  await new Promise<void>((resolve) => {
    child.once('message', () => resolve());
    child.send(job);
  });
  return () =>
    new Promise<number>((resolve, reject) => {
      child.once('message', (answer: { asked?: number; error?: string }) => {
        child.kill();
        server.close();
        if (answer.error !== undefined) reject(new Error(answer.error));
        else resolve(answer.asked ?? 0);
      });
      child.send('go');
    });
}

/**
 * `--credit`: each body says what its instances hold, the same every beat (`steady`) or
 * CREDIT_SHRINK_STEP_MIB more than the one before (`shrink`); `ahead` more beats before the first.
 */
function withCredit<B extends { usage: object }>(bodies: B[], ahead = 0): B[] {
  if (flags.credit === undefined) return bodies;
  if (flags.credit !== 'steady' && flags.credit !== 'shrink') throw new Error('--credit?');
  const shrink = flags.credit === 'shrink';
  return bodies.map((b, i) => ({
    ...b,
    usage: { ...b.usage, heldMemMib: 1_000 + (shrink ? (i - ahead) * CREDIT_SHRINK_STEP_MIB : 0) },
  }));
}

/**
 * What an agent sends beat after beat when a fraction `changed` of its samples change each
 * time (the first beat of them a whole, sequenced report; the coordinator answered the plain
 * first one already).
 */
function deltaBodies<B extends { instances: InstanceSample[] }>(body: B): B[] {
  const deltas = new ReportDeltas({
    epoch: 'bench',
    ...(flags.exact ? { tolerance: EXACT_SAMPLES } : {}),
  });
  deltas.answered({ deltas: true });
  const cpu = body.instances.map((s) => s.cpuPermille ?? 0);
  let turn = 0;
  const out: B[] = [];
  const n = body.instances.length;
  const count = Math.round((changed ?? 0) * n);
  for (let beat = 0; beat < beats; beat += 1) {
    for (let i = 0; i < n; i += 1) {
      if ((i - turn + n) % n < count) cpu[i] = cpu[i] === 500 ? 10 : 500;
    }
    const samples = body.instances.map((s, i) => ({
      ...s,
      cpuPermille: (cpu[i] ?? 0) + (flags.drift ? (beat * 7 + i) % 9 : 0),
      ...(flags.drift ? { rssKib: 262_144 + (((beat + i) % 5) - 2) * 512 } : {}),
    }));
    turn = (turn + count) % n;
    out.push({ ...body, ...deltas.next(samples, undefined) });
    deltas.answered({ deltas: true });
  }
  return out;
}
