/**
 * Queue benchmark (issue 14): empty jobs through mvm's queue against graphile-worker 0.17.3 on
 * the same Postgres, and against plainjob on SQLite, in one run. Throughput: N queued jobs
 * drained by 8 concurrent claimers; batched claims take 32 at a time, unbatched 1. mvm runs
 * two worker loops: `per-job` claims with a lease, then succeeds each job by its own fenced
 * UPDATE (the loop before batching); `batched` sends one succeedAndClaim per round, which
 * completes the last claim's jobs (each fenced by its token) and claims the next. Pickup: an idle claimer waiting, one job
 * submitted, time until the claimer has it; p50 and p99 of 50.
 *   MVM_TEST_PG_URL=postgres://… npx tsx bench/jobs-queue.ts [jobs] [only rows named like this]
 */
import { randomBytes } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { better, defineQueue, defineWorker } from 'plainjob';
import { ChangeNotifier } from '../src/coordinator/desired/change-notifier.ts';
import { defaultJobSettings, JobService } from '../src/coordinator/services/job-service.ts';
import { openStore } from '../src/db/open-store.ts';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import type { ClaimRequest, LeaseCompletion } from '../src/ports/job-store.ts';
import type { Store } from '../src/ports/store.ts';
import { instance, node, pool, tenant } from '../test/db/fixtures.ts';
import { okModule } from '../test/coordinator/jobs/job-module-fixture.ts';
import { queuedJob } from '../test/core/jobs/job-fixture.ts';
import { databases } from '../test/support/databases.ts';
import { createHash } from 'node:crypto';

const JOBS = Number(process.argv[2] ?? 5_000);
const CLAIMERS = 8;
const PICKUPS = 50;
const sha256 = createHash('sha256').update(okModule).digest('hex');
const admin = { kind: 'admin', tokenName: 'bench' } as const;

interface Row {
  queue: string;
  store: string;
  batched: number;
  unbatched: number;
  p50: number;
  p99: number;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;

async function seed(store: Store): Promise<void> {
  await store.tenants.insert(tenant('acme', 1, { createdAt: new Date().toISOString() }));
  await store.pools.insert(pool('acme', 'workers'));
  await store.nodes.upsert(node('node-1'));
  await store.instances.insert(instance('w-1', 10, { nodeId: 'node-1' }));
  await store.jobModules.put({ tenantId: 'acme', sha256, bytes: okModule, createdAt: '' });
}

async function fill(store: Store, n: number, tag: string): Promise<void> {
  const at = new Date(Date.now() - 1000).toISOString();
  await store.transaction(async (repos) => {
    for (let i = 0; i < n; i += 1) {
      await repos.jobs.insert(
        queuedJob({ id: `${tag}-${i}`, poolId: 'workers', moduleSha256: sha256, runAt: at }),
      );
    }
  });
}

type Loop = 'per-job' | 'batched';

const claimOf = (worker: string, limit: number): ClaimRequest => ({
  worker,
  at: new Date().toISOString(),
  leaseMs: 30_000,
  limit,
  poolId: 'workers',
  token: randomBytes(16).toString('hex'),
});

/** Claim, then one fenced succeed per job: 1 + n round trips per claim of n. */
async function perJobWorker(s: Store, worker: string, batch: number): Promise<number> {
  let done = 0;
  for (;;) {
    const jobs = await s.jobQueue.claim(claimOf(worker, batch));
    if (jobs.length === 0) return done;
    for (const job of jobs) {
      await s.jobQueue.succeed(job.id, job.leaseToken ?? '', new Date().toISOString(), '0');
    }
    done += jobs.length;
  }
}

/** One round trip per claim: it carries the completions of the jobs claimed before. */
async function batchedWorker(s: Store, worker: string, batch: number): Promise<number> {
  let done = 0;
  let held: LeaseCompletion[] = [];
  for (;;) {
    const step = await s.jobQueue.succeedAndClaim(held, claimOf(worker, batch));
    if (step.lost.length > 0) throw new Error(`bench: ${step.lost.length} leases lost`);
    done += step.succeeded.length;
    if (step.jobs.length === 0) return done;
    held = step.jobs.map((j) => ({ id: j.id, token: j.leaseToken ?? '', result: '0' }));
  }
}

async function drainMvm(stores: Store[], batch: number, loop: Loop): Promise<number> {
  const start = performance.now();
  const work = loop === 'batched' ? batchedWorker : perJobWorker;
  const counts = await Promise.all(stores.map((s, i) => work(s, `w-${i}`, batch)));
  const done = counts.reduce((a, b) => a + b, 0);
  if (done !== JOBS) throw new Error(`bench: ${done} of ${JOBS} jobs completed`);
  return done / ((performance.now() - start) / 1000);
}

async function mvmPickups(store: Store): Promise<number[]> {
  const jobs = new JobService({
    store,
    clock: systemClock,
    randomSuffix: () => 'x',
    clusterCidr: '10.240.0.0/12',
    notifier: new ChangeNotifier(),
    jobs: defaultJobSettings,
  });
  const wasm = Buffer.from(okModule).toString('base64');
  const samples: number[] = [];
  for (let i = 0; i < PICKUPS; i += 1) {
    const claim = { tenant: 'acme', pool: 'workers', worker: 'w-1', waitMs: 5_000 };
    const waiting = jobs.claim('node-1', claim).then(() => performance.now());
    await new Promise((resolve) => setTimeout(resolve, 5));
    const before = performance.now();
    await jobs.submit(admin, 'acme', { pool: 'workers', wasm, input: String(i) });
    samples.push((await waiting) - before);
  }
  return samples;
}

async function mvmRow(kind: 'postgres' | 'sqlite', loop: Loop): Promise<Row> {
  const target = databases.find((d) => d.name === kind);
  if (target === undefined) throw new Error(kind);
  const db = await target.open();
  // SQLite: one process, one connection (its lock is per process); Postgres: 8 pools.
  const count = kind === 'postgres' ? CLAIMERS : 1;
  const stores = [await openStore(db.url)];
  for (let i = 1; i < count; i += 1) stores.push(await openStore(db.url));
  const [main] = stores;
  if (main === undefined) throw new Error('no store');
  try {
    await seed(main);
    await fill(main, JOBS, 'b');
    const batched = await drainMvm(stores, 32, loop);
    await fill(main, JOBS, 'u');
    const unbatched = await drainMvm(stores, 1, loop);
    const pickups = await mvmPickups(main);
    return { queue: `mvm ${loop}`, store: kind, batched, unbatched, ...spread(pickups) };
  } finally {
    for (const s of stores) await s.close();
    await db.cleanup();
  }
}

const spread = (xs: number[]) => ({ p50: pct(xs, 50), p99: pct(xs, 99) });

async function graphileRow(): Promise<Row> {
  const target = databases.find((d) => d.name === 'postgres');
  if (target === undefined) throw new Error('postgres');
  const db = await target.open();
  const utils = await makeWorkerUtils({
    connectionString: db.url,
    logger: new Logger(() => () => undefined),
  });
  await utils.migrate();
  let done = 0;
  let picked: ((at: number) => void) | undefined;
  const runner = await run({
    connectionString: db.url,
    concurrency: CLAIMERS,
    noHandleSignals: true,
    pollInterval: 2_000,
    logger: new Logger(() => () => undefined),
    taskList: {
      noop: async () => {
        done += 1;
        picked?.(performance.now());
      },
    },
  });
  try {
    const drain = async () => {
      done = 0;
      const specs = Array.from({ length: JOBS }, () => ({ identifier: 'noop', payload: {} }));
      const start = performance.now();
      await utils.addJobs(specs);
      while (done < JOBS) await new Promise((resolve) => setTimeout(resolve, 2));
      return JOBS / ((performance.now() - start) / 1000);
    };
    const batched = await drain();
    // graphile-worker has no unbatched mode of its own: one addJob per job.
    done = 0;
    const start = performance.now();
    for (let i = 0; i < JOBS; i += 1) await utils.addJob('noop', {});
    while (done < JOBS) await new Promise((resolve) => setTimeout(resolve, 2));
    const unbatched = JOBS / ((performance.now() - start) / 1000);
    const pickups: number[] = [];
    for (let i = 0; i < PICKUPS; i += 1) {
      const got = new Promise<number>((resolve) => (picked = resolve));
      const before = performance.now();
      await utils.addJob('noop', {});
      pickups.push((await got) - before);
    }
    picked = undefined;
    return {
      queue: 'graphile-worker 0.17.3',
      store: 'postgres',
      batched,
      unbatched,
      ...spread(pickups),
    };
  } finally {
    await runner.stop();
    await utils.release();
    await db.cleanup();
  }
}

async function plainjobRow(): Promise<Row> {
  const target = databases.find((d) => d.name === 'sqlite');
  if (target === undefined) throw new Error('sqlite');
  const db = await target.open();
  mkdirSync(dirname(db.url), { recursive: true });
  const database = new SqliteDatabase(db.url);
  database.pragma('journal_mode = WAL');
  const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
  const queue = defineQueue({ connection: better(database), logger: silent });
  let done = 0;
  let picked: ((at: number) => void) | undefined;
  const worker = defineWorker(
    'noop',
    async () => {
      done += 1;
      picked?.(performance.now());
    },
    { queue, logger: silent },
  );
  void worker.start();
  try {
    done = 0;
    let start = performance.now();
    queue.addMany(
      'noop',
      Array.from({ length: JOBS }, () => ({})),
    );
    while (done < JOBS) await new Promise((resolve) => setTimeout(resolve, 2));
    const batched = JOBS / ((performance.now() - start) / 1000);
    done = 0;
    start = performance.now();
    for (let i = 0; i < JOBS; i += 1) queue.add('noop', {});
    while (done < JOBS) await new Promise((resolve) => setTimeout(resolve, 2));
    const unbatched = JOBS / ((performance.now() - start) / 1000);
    const pickups: number[] = [];
    for (let i = 0; i < PICKUPS; i += 1) {
      const got = new Promise<number>((resolve) => (picked = resolve));
      const before = performance.now();
      queue.add('noop', {});
      pickups.push((await got) - before);
    }
    return { queue: 'plainjob', store: 'sqlite', batched, unbatched, ...spread(pickups) };
  } finally {
    await worker.stop();
    queue.close();
    database.close();
    await db.cleanup();
  }
}

const rows: Row[] = [];
const makers: Array<[string, () => Promise<Row>]> = [
  ['mvm-postgres-per-job', () => mvmRow('postgres', 'per-job')],
  ['mvm-postgres-batched', () => mvmRow('postgres', 'batched')],
  ['graphile-worker', graphileRow],
  ['mvm-sqlite-per-job', () => mvmRow('sqlite', 'per-job')],
  ['mvm-sqlite-batched', () => mvmRow('sqlite', 'batched')],
  ['plainjob', plainjobRow],
];
// Optional: only the rows whose name contains this (e.g. `sqlite`), for profiling.
const only = process.argv[3];
for (const [name, make] of makers) {
  if (only !== undefined && !name.includes(only)) continue;
  rows.push(await make());
  console.error(JSON.stringify(rows.at(-1)));
}
console.log(`${JOBS} empty jobs, ${CLAIMERS} claimers (SQLite: 1 connection), ${PICKUPS} pickups`);
console.log('queue                   store     batched/s  unbatched/s  pickup p50 ms  p99 ms');
for (const r of rows) {
  console.log(
    `${r.queue.padEnd(24)}${r.store.padEnd(10)}${r.batched.toFixed(0).padStart(9)}${r.unbatched
      .toFixed(0)
      .padStart(13)}${r.p50.toFixed(1).padStart(15)}${r.p99.toFixed(1).padStart(8)}`,
  );
}
