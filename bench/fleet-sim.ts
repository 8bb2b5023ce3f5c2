/**
 * A simulated fleet against a real coordinator (issue 17, item 3): the coordinator runs as a
 * child process (`node dist/cli/main.js coordinator serve`, SQLite by default, `--pg` for
 * Postgres) so its CPU and RSS come from /proc; 1,000 simulated agents (in this process) with
 * 100 instances each long-poll their documents, act on changes with status reports and
 * heartbeat every 5 s; a stream of pool scales runs over the API. Prints pool scale and API
 * latency, scale-to-agent latency, mutations/s, coordinator CPU and RSS, and the goals.
 *
 *   bash scripts/build.sh   # the coordinator child runs dist/
 *   npx tsx bench/fleet-sim.ts [--pg] [--nodes 1000] [--per-node 100] [--per-tenant 200]
 *     [--seconds 45] [--rate 20] [--clients 4] [--pool-max N] [--cpu-prof <dir>] [--log <file>]
 *     [--heap-snapshot <dir>] [--json] [--changed 0.05 [--drift] [--exact] | --whole-reports]
 *     [--trace-late <ms>] [--lost-after 60] [--settle 60]
 *
 * Heartbeats are deltas as a real agent sends them, `--changed` of each node's samples changed
 * per beat (default 5%); `--drift` makes every sample's CPU and RSS wobble within the agent's
 * tolerance, `--exact` compares samples exactly (agents before that tolerance);
 * `--whole-reports` sends every sample every beat (agents before deltas).
 * `--heap-snapshot <dir>` writes one heap snapshot of the coordinator there after the burst
 * (its figures are taken before it). `--pool-max` sizes the coordinator's Postgres pool (`?pool_max=N` on its store URL).
 * `--trace-late <ms>` prints each streamed change its agent held more than `ms` after the
 * scale's answer, with that node's last long-polls (sent -> answered, what they carried).
 * A change no agent held 5 s after the stream's last scale is printed and waited for another
 * `--lost-after` seconds with nothing written (then it counts as lost, else as late); after
 * the burst, each agent's document is compared with its node's instances in the store until
 * they agree or `--settle` seconds pass (what still differs is printed and counted).
 * Instances are packed: a tenant's pool fills `per-tenant / per-node` consecutive nodes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoordinatorChild, type ProcSample } from './support/coordinator-child.ts';
import { freshDatabase, seedInstances, type FleetShape } from './support/fleet-seed.ts';
import { jsonClient, type JsonClient } from './support/http-json.ts';
import { SimAgents } from './support/sim-agents.ts';
import { WatchTrace } from './support/watch-trace.ts';
import { goalLines, renderFigures, type SimFigures } from './support/sim-report.ts';
import { runApiReader, runBurst, runScaleStream, seedApi } from './support/sim-load.ts';
import { settle } from './support/sim-settle.ts';

const { values: flags } = parseArgs({
  options: {
    pg: { type: 'boolean', default: false },
    nodes: { type: 'string', default: '1000' },
    'per-node': { type: 'string', default: '100' },
    'per-tenant': { type: 'string' },
    seconds: { type: 'string', default: '45' },
    rate: { type: 'string', default: '20' },
    clients: { type: 'string', default: '4' },
    'pool-max': { type: 'string' },
    'cpu-prof': { type: 'string' },
    'heap-snapshot': { type: 'string' },
    log: { type: 'string' },
    json: { type: 'boolean', default: false },
    changed: { type: 'string', default: '0.05' },
    'whole-reports': { type: 'boolean', default: false },
    drift: { type: 'boolean', default: false },
    exact: { type: 'boolean', default: false },
    'trace-late': { type: 'string' },
    'lost-after': { type: 'string', default: '60' },
    settle: { type: 'string', default: '60' },
  },
});

/** How the simulated agents' heartbeats carry samples, as the figures name it. */
function reportsMode(fraction: number): string {
  const drift = flags.drift ? ', all drifting' : '';
  return `deltas, ${fraction * 100}% changed${drift}${flags.exact ? ', compared exactly' : ''}`;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nodes = Number(flags.nodes);
const perNode = Number(flags['per-node']);
const perTenant = Number(flags['per-tenant'] ?? Math.min(200, perNode * 2));
const shape: FleetShape = {
  nodes,
  perNode,
  perTenant,
  tenants: Math.floor((nodes * perNode) / perTenant),
};
const seconds = Number(flags.seconds);
const store = flags.pg ? 'postgres' : 'sqlite';
const changed = flags['whole-reports'] ? undefined : Number(flags.changed);
if (changed !== undefined && !(changed >= 0 && changed <= 1))
  throw new Error(`--changed ${flags.changed}: a fraction from 0 to 1`);

if (!existsSync(join(root, 'dist/cli/main.js')))
  throw new Error('dist/ is missing: run bash scripts/build.sh first (the coordinator runs it)');
if (shape.tenants < 2 || perTenant > 250)
  throw new Error(
    `--per-tenant ${perTenant} leaves ${shape.tenants} tenants: need ≥ 2, ≤ 250 each`,
  );

const LOST_AFTER_MS = 600_000;
const log = (line: string) => console.error(`[fleet-sim] ${line}`);
const database = await freshDatabase(store);
const work = await mkdtemp(join(tmpdir(), 'mvm-fleetsim-'));
const token = randomBytes(32).toString('hex');
const cpuProfDir = flags['cpu-prof'] === undefined ? undefined : resolve(flags['cpu-prof']);
if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
const heapDir = flags['heap-snapshot'] === undefined ? undefined : resolve(flags['heap-snapshot']);
if (heapDir) await mkdir(heapDir, { recursive: true });
let child: CoordinatorChild | undefined;
let agents: SimAgents | undefined;
let api: JsonClient | undefined;
try {
  child = await CoordinatorChild.start({
    root,
    databaseUrl:
      flags['pool-max'] === undefined
        ? database.url
        : `${database.url}${database.url.includes('?') ? '&' : '?'}pool_max=${flags['pool-max']}`,
    dataDir: join(work, 'data'),
    adminToken: token,
    logFile: flags.log === undefined ? join(work, 'coordinator.log') : resolve(flags.log),
    // Long enough that a saturated coordinator's late heartbeat answers do not set off a
    // cascade of lost nodes and moved instances; the heartbeat p99 shows how close it came.
    nodeLostAfterMs: LOST_AFTER_MS,
    ...(cpuProfDir ? { cpuProfDir } : {}),
    ...(heapDir ? { heapSnapshotDir: heapDir } : {}),
    memoryFile: join(work, 'memory.json'),
  });
  log(`coordinator pid ${child.pid} at ${child.url} on ${store}`);
  api = jsonClient(child.url, token, 16);
  const seedStarted = performance.now();
  await seedApi(api, shape);
  await seedInstances(database.url, shape);
  const seedSecs = (performance.now() - seedStarted) / 1000;
  log(
    `seeded ${shape.tenants * perTenant} instances on ${nodes} nodes in ${seedSecs.toFixed(1)} s`,
  );

  const trace = flags['trace-late'] === undefined ? undefined : new WatchTrace(performance.now());
  agents = new SimAgents(
    child.url,
    token,
    nodes,
    64,
    changed,
    { drift: flags.drift, exact: flags.exact },
    trace,
  );
  const startedAgents = performance.now();
  agents.start(Math.min(10_000, nodes * 5));
  await agents.allHoldDocuments(180_000);
  const firstDocsSecs = (performance.now() - startedAgents) / 1000;
  log(`all ${nodes} agents hold their document after ${firstDocsSecs.toFixed(1)} s`);

  const rss: ProcSample[] = [];
  const sampler = setInterval(() => {
    void child?.sample().then(
      (s) => rss.push(s),
      () => undefined,
    );
  }, 1000);
  agents.record(true);
  const steadySecs = Math.max(2, Math.round((seconds * 2) / 3));
  const burstSecs = Math.max(1, seconds - steadySecs);
  const cpu0 = await child.sample();
  const [stream, reads] = await Promise.all([
    runScaleStream(api, agents, shape, {
      seconds: steadySecs,
      rate: Number(flags.rate),
      lostAfterMs: Number(flags['lost-after']) * 1000,
      print: log,
      ...(trace ? { late: { ms: Number(flags['trace-late']), trace } } : {}),
    }),
    runApiReader(api, shape, steadySecs),
  ]);
  const cpu1 = await child.sample();
  const burst = await runBurst(api, shape, {
    seconds: burstSecs,
    clients: Math.min(Number(flags.clients), shape.tenants),
  });
  const cpu2 = await child.sample();
  clearInterval(sampler);
  // Nothing writes now: every agent's document must come to say what the store says.
  const settled = await settle(api, agents, shape, Number(flags.settle) * 1000);
  if (settled.differing > 0) log(`documents differ from the store: ${settled.examples.join('; ')}`);
  const cpuPct = (a: ProcSample, b: ProcSample, secs: number) =>
    ((b.cpuSecs - a.cpuSecs) / secs) * 100;
  const figures: SimFigures = {
    store,
    nodes,
    instances: shape.tenants * perTenant,
    seedSecs,
    firstDocsSecs,
    steadySecs,
    burstSecs,
    scaleMs: stream.scaleMs,
    actingMs: stream.actingMs,
    unseen: stream.unseen,
    lost: stream.lost,
    differing: settled.differing,
    settleSecs: settled.waitedMs / 1000,
    scaleOps: stream.scaleMs.length,
    apiMs: reads,
    heartbeatMs: agents.heartbeatMs,
    reportMs: agents.reportMs,
    mutationsPerSec: burst.done / burstSecs,
    burstScaleMs: burst.scaleMs,
    cpuSteadyPct: cpuPct(cpu0, cpu1, steadySecs),
    cpuBurstPct: cpuPct(cpu1, cpu2, burstSecs),
    rssPeakMib: Math.max(cpu2.rssMib, ...rss.map((s) => s.rssMib)),
    rssEndMib: cpu2.rssMib,
    ...memoryAtPeak([...rss, cpu2]),
    counters: { ...agents.counters },
    ...(changed === undefined ? {} : { reports: reportsMode(changed) }),
  };
  console.log(renderFigures(figures));
  for (const line of goalLines(figures)) console.log(line);
  if (flags.json) console.log(`RESULT ${JSON.stringify(figures)}`);
  if (heapDir) await heapSnapshot(child, api, heapDir);
} finally {
  await agents?.stop();
  api?.close();
  await child?.stop();
  if (cpuProfDir) log(`coordinator CPU profile in ${cpuProfDir}`);
  await database.drop();
  await rm(work, { recursive: true, force: true });
}

/** The child's heap and external memory at the sample of highest RSS, and heap used's peak. */
function memoryAtPeak(samples: ProcSample[]): Pick<SimFigures, 'memoryAtPeak' | 'heapUsedPeakMib'> {
  const peak = samples.reduce((a, b) => (b.rssMib > a.rssMib ? b : a));
  const used = samples.map((s) => s.memory?.heapUsed ?? 0);
  return {
    ...(peak.memory ? { memoryAtPeak: peak.memory } : {}),
    heapUsedPeakMib: Math.max(...used),
  };
}

/** One snapshot after the run: the signal, then a read that the coordinator answers after it. */
async function heapSnapshot(c: CoordinatorChild, client: JsonClient, dir: string): Promise<void> {
  const rss = (await c.sample()).rssMib;
  c.heapSnapshot();
  await new Promise((done) => setTimeout(done, 500));
  await client.call('GET', '/nodes?limit=1');
  log(`coordinator heap snapshot in ${dir} (RSS ${rss.toFixed(0)} MiB before it)`);
}
