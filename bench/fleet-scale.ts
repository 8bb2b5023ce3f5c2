/**
 * What one change costs as the fleet grows: a real coordinator over HTTP on SQLite and on
 * Postgres, run as a child process (`node dist/cli/main.js coordinator serve`: run
 * `bash scripts/build.sh` first) so its CPU is its own and measured apart from the watchers',
 * 100 registered nodes each watched by an agent-side long-poll (watchDesired), and
 * 1k → 10k → 100k placed instances (200 per tenant, bulk-inserted). At each size it prints:
 *  - pool scale p50: one pool scaled up by one (placement) and back down, over the API;
 *  - mutations/s: 4 clients (`--clients N`) scaling as many tenants' pools running ⇄ warm
 *    for 3 s, after 3 s of the same not counted (the coordinator's JIT compiles the path in
 *    them: ~20% of its CPU went to TurboFan's threads in a burst from cold; their rate is
 *    printed apart, "first 3 s"), and the coordinator's CPU per mutation meanwhile (the documents they wake
 *    included; of it, in the kernel), Postgres' (its backends for the bench's database, from
 *    /proc) and this process's (the clients and the watchers), and the whole host's busy CPU
 *    (other sessions included);
 *  - agent acting p50: from a running ⇄ warm scale to the watcher of the instance's node
 *    holding the verified document that carries it; and the document's share of it, from
 *    the scale's answer to that watcher.
 * Goals (issue 17, Postgres at 100k): scale p50 ≤ 10 ms, ≥ 500 mutations/s, acting p50 ≤ 20 ms.
 *   npx tsx bench/fleet-scale.ts [sizes, e.g. 1000,10000,100000] [stores, e.g. sqlite,postgres]
 *     [--cpu-prof <dir>] [--log <dir>] [--replicas N] [--trace <file>] [--pg-socket <dir>]
 *     [--pg-tally <file>] [--clients N]
 * `--cpu-prof` runs each coordinator under `node --cpu-prof` (a profile per store in <dir>);
 * `--log` keeps each coordinator's structured log there. `--replicas N` (Postgres) runs N
 * coordinators over the one database (one data dir, so one signing key): the burst's clients
 * and the nodes' watchers are spread over them (client c and node n on replica c mod N and
 * n mod N); the pool scale and acting samples go through the first; CPU figures sum them.
 * `--trace` appends each pool scale sample (direction, wall-clock send time, duration) to <file>
 * as a line of JSON, to be lined up with a coordinator's log (bench/support/scale-trace.ts).
 * `--pg-socket <dir>` (Postgres) has the coordinators reach the server over its Unix socket in
 * <dir> (e.g. /var/run/postgresql), not over MVM_TEST_PG_URL's TCP address: the same role,
 * password and database (the bench's own seeding and samples stay on TCP).
 * `--pg-tally <file>` loads bench/support/pg-wire-tally.mjs into the (first) coordinator and
 * prints, per mutation of the burst, each statement's calls, rows and row bytes received, and
 * the socket writes and bytes both ways (<file> holds the JSON between the window and its print).
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { overSocket } from '../src/db/store-url.ts';
import { CoordinatorChild, type ProcSample } from './support/coordinator-child.ts';
import {
  apiOf,
  freshDatabase,
  seedInstances,
  seedNodes,
  seedTenants,
  tenantId,
  type Api,
  type FleetShape,
  type StoreName,
} from './support/fleet-seed.ts';
import { NodeWatchers } from './support/node-watchers.ts';
import { backendSecs, PgBackendCpu, type BackendCpu } from './support/pg-backend-cpu.ts';
import { percentile } from './support/stats.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'cpu-prof': { type: 'string' },
    log: { type: 'string' },
    replicas: { type: 'string', default: '1' },
    clients: { type: 'string', default: '4' },
    trace: { type: 'string' },
    'pg-socket': { type: 'string' },
    'pg-tally': { type: 'string' },
  },
});
const sizes = (positionals[0] ?? '1000,10000,100000').split(',').map(Number);
const stores = (positionals[1] ?? 'sqlite,postgres').split(',') as StoreName[];
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/cli/main.js')))
  throw new Error('dist/ is missing: run bash scripts/build.sh first (the coordinator runs it)');
const cpuProfRoot = flags['cpu-prof'] === undefined ? undefined : resolve(flags['cpu-prof']);
const logRoot = flags.log === undefined ? undefined : resolve(flags.log);
const traceFile = flags.trace === undefined ? undefined : resolve(flags.trace);
const pgSocket = flags['pg-socket'];
const tallyFile = flags['pg-tally'] === undefined ? undefined : resolve(flags['pg-tally']);
if (tallyFile) {
  // The coordinator children inherit it: the tally hooks their pg clients.
  const hook = join(root, 'bench/support/pg-wire-tally.mjs');
  process.env['NODE_OPTIONS'] = `${process.env['NODE_OPTIONS'] ?? ''} --import ${hook}`.trim();
  process.env['MVM_BENCH_PG_TALLY'] = tallyFile;
}
const clientCount = Number(flags.clients);
if (!Number.isInteger(clientCount) || clientCount < 1)
  throw new Error(`--clients must be a whole number of at least 1, not '${flags.clients}'`);
const replicas = Number(flags.replicas);
if (!Number.isInteger(replicas) || replicas < 1)
  throw new Error(`--replicas must be a whole number of at least 1, not '${flags.replicas}'`);
if (replicas > 1 && stores.includes('sqlite'))
  throw new Error('--replicas above 1 needs Postgres alone (SQLite is one process): pass postgres');
const NODES = 100;
const PER_TENANT = 200;
const SAMPLES = 40;
/** Each burst of toggles: the one not counted, then the one measured. */
const BURST_MS = 3000;
/** Long enough that a slow heartbeat answer never declares a node lost mid-run. */
const LOST_AFTER_MS = 600_000;

interface Row {
  store: StoreName;
  instances: number;
  seedMs: number;
  scaleP50: number;
  scaleP90: number;
  /** Of the pool scale samples: the scales up by one (a placement pass) and those back down. */
  upP50: number;
  downP50: number;
  mutationsPerSec: number;
  /** The clients' rate in the 3 s before, not counted: the coordinator compiling the path. */
  coldPerSec: number;
  /** The coordinators' CPU per mutation while 4 clients toggle (documents included). */
  cpuMsPerMutation: number;
  /** Of it, in the kernel. */
  sysMsPerMutation: number;
  /** Postgres' backends' CPU per mutation meanwhile (undefined on SQLite). */
  pgMsPerMutation: number | undefined;
  /** While the clients toggle (100% = one core): each coordinator, Postgres, this process, the host. */
  burst: { coordinators: number[]; postgres: number | undefined; bench: number; host: number };
  actingP50: number;
  actingP90: number;
  /** Of acting: from the scale's answer to the watcher holding the document (the document's share). */
  documentP50: number;
  /** The coordinator's CPU while measuring (100% = one core), and its RSS after. */
  cpuPct: number;
  rssMib: number;
}

interface ScaleAnswer {
  changed: Array<{ nodeId: string | null }>;
}

const scalePath = (t: number) => `/tenants/${tenantId(t)}/pools/w/scale`;

/** Even samples scale up by one (a new instance, placed by the pass the answer waits for), odd ones back down. */
async function scaleLatency(api: Api, size: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const running = i % 2 === 0 ? PER_TENANT + 1 : PER_TENANT;
    const started = performance.now();
    await api('POST', scalePath(0), { running });
    times.push(performance.now() - started);
    traced({ kind: 'scale', size, up: i % 2 === 0, sentAt: wallMs(started), ms: times.at(-1) });
  }
  return times;
}

/** A monotonic reading as wall milliseconds, comparable with another process's on this host. */
const wallMs = (monotonic: number) => performance.timeOrigin + monotonic;

/** One line of JSON per sample to `--trace` (appended), to line up with a coordinator's own. */
function traced(sample: Record<string, unknown>): void {
  if (traceFile) appendFileSync(traceFile, `${JSON.stringify(sample)}\n`);
}

const everyOther = (values: readonly number[], first: 0 | 1) =>
  values.filter((_, i) => i % 2 === first);

/** The clients' toggles a second, for `ms`. */
async function mutationsPerSecond(
  apis: readonly Api[],
  tenants: number,
  ms: number,
): Promise<number> {
  const clients = Math.min(clientCount, tenants - 2);
  const deadline = performance.now() + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < deadline; i += 1) {
        const warm = i % 2 === 0 ? 1 : 0;
        const api = apis[c % apis.length] as Api;
        await api('POST', scalePath(2 + c), { running: PER_TENANT - warm, warm });
        done += 1;
      }
    }),
  );
  return done / (ms / 1000);
}

async function actingLatency(
  api: Api,
  watchers: NodeWatchers,
): Promise<{ times: number[]; document: number[] }> {
  const times: number[] = [];
  const document: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const warm = i % 2 === 0 ? 1 : 0;
    const before = watchers.snapshot();
    const started = performance.now();
    const answer = (await api('POST', scalePath(1), {
      running: PER_TENANT - warm,
      warm,
    })) as ScaleAnswer;
    const node = answer.changed[0]?.nodeId;
    if (!node)
      throw new Error(
        `the scale changed no placed instance: ${JSON.stringify(answer.changed).slice(0, 700)}`,
      );
    const answered = performance.now();
    await watchers.after(node, before.get(node) ?? 0);
    times.push(performance.now() - started);
    document.push(performance.now() - answered);
  }
  return { times, document };
}

async function measureStore(store: StoreName): Promise<Row[]> {
  const database = await freshDatabase(store);
  const work = await mkdtemp(join(tmpdir(), 'mvm-bench-scale-'));
  const token = randomBytes(32).toString('hex');
  const cpuProfDir = cpuProfRoot && join(cpuProfRoot, store);
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
  if (logRoot) await mkdir(logRoot, { recursive: true });
  const rows: Row[] = [];
  let watchers: NodeWatchers | undefined;
  const coordinators: CoordinatorChild[] = [];
  const backends = store === 'postgres' ? await PgBackendCpu.open(database.url) : undefined;
  try {
    // One after the other: the first creates the data dir's keys, the others read them.
    for (let r = 0; r < replicas; r += 1) {
      coordinators.push(
        await CoordinatorChild.start({
          root,
          databaseUrl:
            store === 'postgres' && pgSocket ? overSocket(database.url, pgSocket) : database.url,
          dataDir: join(work, 'data'),
          adminToken: token,
          logFile: join(logRoot ?? work, `coordinator-${store}${r === 0 ? '' : `-${r}`}.log`),
          nodeLostAfterMs: LOST_AFTER_MS,
          ...(cpuProfDir ? { cpuProfDir } : {}),
        }),
      );
    }
    const urls = coordinators.map((c) => c.url);
    const apis = urls.map((url) => apiOf(url, token));
    const api = apis[0] as Api;
    let tenants = 0;
    for (const size of sizes) {
      const shape: FleetShape = { nodes: NODES, tenants: size / PER_TENANT, perTenant: PER_TENANT };
      const started = performance.now();
      if (!watchers) {
        await seedNodes(api, NODES);
        watchers = await NodeWatchers.start(urls, token, NODES);
      }
      await watchers.settled();
      const before = watchers.snapshot();
      await seedTenants(api, shape, tenants);
      await seedInstances(database.url, shape, tenants);
      const seedMs = performance.now() - started;
      tenants = shape.tenants;
      // Every node's document changed (new instances on every node): wait for all of them.
      for (const [node, generation] of before) await watchers.after(node, generation);
      await watchers.settled();
      console.error(
        `${store} ${size}: seeded in ${(seedMs / 1000).toFixed(1)} s, every node holds its document after ${((performance.now() - started - seedMs) / 1000).toFixed(1)} s`,
      );
      const cpu0 = await sampleAll(coordinators);
      const measuring = performance.now();
      const scale = await scaleLatency(api, size);
      const cold = await mutationsPerSecond(apis, tenants, BURST_MS);
      const burst0 = await burstSample(coordinators, backends);
      if (tallyFile) process.kill(coordinators[0]?.pid ?? 0, 'SIGUSR2');
      const mutations = await mutationsPerSecond(apis, tenants, BURST_MS);
      const count = (mutations * BURST_MS) / 1000;
      if (tallyFile) {
        process.kill(coordinators[0]?.pid ?? 0, 'SIGUSR2');
        await printTally(tallyFile, count / replicas, `${store} ${size}`);
      }
      const burst1 = await burstSample(coordinators, backends);
      const acting = await actingLatency(api, watchers);
      const cpu1 = await sampleAll(coordinators);
      const pg = backends && backendSecs(burst0.postgres, burst1.postgres);
      rows.push({
        store,
        instances: size,
        seedMs,
        scaleP50: percentile(scale, 50),
        scaleP90: percentile(scale, 90),
        upP50: percentile(everyOther(scale, 0), 50),
        downP50: percentile(everyOther(scale, 1), 50),
        mutationsPerSec: mutations,
        coldPerSec: cold,
        cpuMsPerMutation:
          ((sum(burst1.coordinators, 'cpuSecs') - sum(burst0.coordinators, 'cpuSecs')) * 1000) /
          count,
        sysMsPerMutation:
          ((sum(burst1.coordinators, 'sysSecs') - sum(burst0.coordinators, 'sysSecs')) * 1000) /
          count,
        pgMsPerMutation: pg && ((pg.userSecs + pg.sysSecs) * 1000) / count,
        burst: burstShares(burst0, burst1, pg),
        actingP50: percentile(acting.times, 50),
        actingP90: percentile(acting.times, 90),
        documentP50: percentile(acting.document, 50),
        cpuPct: cpuPercent(cpu0, cpu1, performance.now() - measuring),
        rssMib: cpu1.reduce((total, c) => total + c.rssMib, 0),
      });
      console.error(`${store} ${size}: measured`);
    }
  } finally {
    await watchers?.stop();
    for (const coordinator of coordinators) await coordinator.stop();
    await backends?.close();
    if (cpuProfDir) console.error(`${store}: coordinator CPU profile in ${cpuProfDir}`);
    await database.drop();
    await rm(work, { recursive: true, force: true });
  }
  return rows;
}

interface BurstSample {
  at: number;
  coordinators: ProcSample[];
  postgres: BackendCpu;
  /** This process's CPU (the clients and watchers), in µs. */
  bench: NodeJS.CpuUsage;
  /** The host's busy CPU in seconds, every core and process. */
  hostSecs: number;
}

interface WireTally {
  statements: Record<string, { calls: number; rows: number; rowBytes: number }>;
  writes: number;
  bytesOut: number;
  bytesIn: number;
}

/** The first coordinator's pg traffic in the burst, per mutation (pg-wire-tally.mjs). */
async function printTally(file: string, count: number, label: string): Promise<void> {
  let tally: WireTally | undefined;
  for (let tries = 0; tally === undefined && tries < 50; tries += 1) {
    tally = await readFile(file, 'utf8')
      .then((text) => JSON.parse(text) as WireTally)
      .catch(() => undefined);
    if (tally === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  if (tally === undefined) throw new Error(`no pg tally in ${file}`);
  await rm(file, { force: true });
  const per = (n: number) => (n / count).toFixed(2);
  console.error(
    `\n${label}: per mutation (${count.toFixed(0)}): ${per(tally.writes)} socket writes, ${per(tally.bytesOut)} B out, ${per(tally.bytesIn)} B in`,
  );
  console.error('calls/mut | rows/mut | row B/mut | statement');
  const rows = Object.entries(tally.statements).sort((a, b) => b[1].rowBytes - a[1].rowBytes);
  for (const [text, t] of rows)
    console.error(`${per(t.calls)} | ${per(t.rows)} | ${per(t.rowBytes)} | ${text}`);
}

async function burstSample(
  coordinators: readonly CoordinatorChild[],
  backends: PgBackendCpu | undefined,
): Promise<BurstSample> {
  return {
    at: performance.now(),
    coordinators: await sampleAll(coordinators),
    postgres: backends ? await backends.sample() : { byPid: new Map() },
    bench: process.cpuUsage(),
    hostSecs: await hostBusySecs(),
  };
}

function burstShares(
  a: BurstSample,
  b: BurstSample,
  pg: { userSecs: number; sysSecs: number } | undefined,
): Row['burst'] {
  const secs = (b.at - a.at) / 1000;
  const bench = b.bench.user + b.bench.system - a.bench.user - a.bench.system;
  return {
    coordinators: b.coordinators.map((c, i) =>
      pct(c.cpuSecs - (a.coordinators[i]?.cpuSecs ?? 0), secs),
    ),
    postgres: pg && pct(pg.userSecs + pg.sysSecs, secs),
    bench: pct(bench / 1e6, secs),
    host: pct(b.hostSecs - a.hostSecs, secs),
  };
}

const pct = (cpuSecs: number, secs: number) => (cpuSecs / secs) * 100;

/** Busy CPU of the whole host so far (every core: all but idle and I/O wait), from /proc/stat. */
async function hostBusySecs(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.slice(0, 8).reduce((a, t) => a + t, 0);
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / 100;
}

function sampleAll(coordinators: readonly CoordinatorChild[]): Promise<ProcSample[]> {
  return Promise.all(coordinators.map((c) => c.sample()));
}

function sum(samples: readonly ProcSample[], field: 'cpuSecs' | 'sysSecs'): number {
  return samples.reduce((total, s) => total + s[field], 0);
}

function cpuPercent(a: readonly ProcSample[], b: readonly ProcSample[], ms: number): number {
  return ((sum(b, 'cpuSecs') - sum(a, 'cpuSecs')) / (ms / 1000)) * 100;
}

const rows: Row[] = [];
for (const store of stores) rows.push(...(await measureStore(store)));
const ms = (v: number) => `${v.toFixed(1)} ms`;
console.log(
  `${NODES} nodes watched, ${PER_TENANT} instances per tenant, ${SAMPLES} samples each, ${replicas} coordinator replica(s), ${clientCount} burst client(s)`,
);
console.log(
  '| store | instances | pool scale p50 (p90) | mutations/s (CPU each) | agent acting p50 (p90) | of which document p50 | coordinator CPU | RSS |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(
    `| ${r.store} | ${r.instances} | ${ms(r.scaleP50)} (${ms(r.scaleP90)}) | ${r.mutationsPerSec.toFixed(0)} (${ms(r.cpuMsPerMutation)}) | ${ms(r.actingP50)} (${ms(r.actingP90)}) | ${ms(r.documentP50)} | ${r.cpuPct.toFixed(0)}% | ${r.rssMib.toFixed(0)} MiB |`,
  );
}
console.log(
  '\n| store | instances | mutations/s (first 3 s) | coordinator CPU each (of it kernel) | Postgres CPU each | burst CPU: coordinators, Postgres, bench, whole host (100% = a core) |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const cores = r.burst.coordinators.map((c) => `${c.toFixed(0)}%`).join(' + ');
  const postgres = r.burst.postgres === undefined ? '-' : `${r.burst.postgres.toFixed(0)}%`;
  console.log(
    `| ${r.store} | ${r.instances} | ${r.mutationsPerSec.toFixed(0)} (${r.coldPerSec.toFixed(0)}) | ${ms(r.cpuMsPerMutation)} (${ms(r.sysMsPerMutation)}) | ${r.pgMsPerMutation === undefined ? '-' : ms(r.pgMsPerMutation)} | ${cores}, ${postgres}, ${r.burst.bench.toFixed(0)}%, ${r.burst.host.toFixed(0)}% |`,
  );
}
console.log('\n| store | instances | pool scale p50: up by one (placed) / back down |');
console.log('| --- | --- | --- |');
for (const r of rows)
  console.log(`| ${r.store} | ${r.instances} | ${ms(r.upP50)} / ${ms(r.downP50)} |`);
const goal = rows.filter((r) => r.store === 'postgres').at(-1);
if (goal) {
  const met = goal.scaleP50 <= 10 && goal.mutationsPerSec >= 500 && goal.actingP50 <= 20;
  console.log(
    `goals at Postgres ${goal.instances}: scale p50 ≤ 10 ms, ≥ 500 mutations/s, acting p50 ≤ 20 ms: ${met ? 'MET' : 'MISSED'}`,
  );
}
