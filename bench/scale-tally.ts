/**
 * Every statement one pool scale runs on Postgres, at fleet size: an in-process coordinator
 * over a database seeded like bench/fleet-scale.ts (100 nodes, tenants of 200 placed running
 * instances spread over every node), then, per kind of scale (a running ⇄ warm toggle, one
 * instance created and placed, a stopped one raised, one down), the statements each sent
 * (text, count, time per scale), taken from the pg client itself so BEGIN, COMMIT and
 * advisory locks count too.
 * Then 4 clients toggling 4 tenants for 3 s: mutations/s and what `pg_stat_activity` showed
 * their connections waiting on (sampled every 5 ms).
 *   npx tsx bench/scale-tally.ts [instances, default 100000] [--url <seeded db>] [--keep]
 * `--keep` leaves the seeded database for another run with `--url` (it prints the URL).
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { tenantId } from './support/fleet-seed.ts';
import { tallyPgStatements } from './support/pg-statement-tally.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { median } from './support/stats.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { url: { type: 'string' }, keep: { type: 'boolean', default: false } },
});
const size = Number(positionals[0] ?? 100_000);
const PER_TENANT = 200;
const NODES = 100;
const ROUNDS = 20;
// Each round of the created-and-placed scale takes a tenant of its own, from the tenth on.
if (size < (10 + ROUNDS) * PER_TENANT)
  throw new Error(`at least ${(10 + ROUNDS) * PER_TENANT} instances: one tenant per round`);

const tally = tallyPgStatements();
let unrecordedMs = 0;
const { api, close, database } = await seededFleet(
  'postgres',
  { nodes: NODES, tenants: size / PER_TENANT, perTenant: PER_TENANT },
  { clusterCidr: '10.0.0.0/8', url: flags.url, keep: flags.keep },
);
const scale = (t: number, body: unknown) =>
  api('POST', `/tenants/${tenantId(t)}/pools/w/scale`, body);

async function measured(name: string, work: (round: number) => Promise<unknown>): Promise<void> {
  tally.byText.clear();
  const walls: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    tally.recording = true;
    const started = performance.now();
    unrecordedMs = 0;
    await work(round);
    walls.push(performance.now() - started - unrecordedMs);
    tally.recording = false;
  }
  const rows = [...tally.byText].map(([text, times]) => ({
    text,
    perScale: times.length / ROUNDS,
    msPerScale: times.reduce((a, b) => a + b, 0) / ROUNDS,
    p50: median(times),
  }));
  const statements = rows.reduce((a, r) => a + r.perScale, 0);
  const ms = rows.reduce((a, r) => a + r.msPerScale, 0);
  console.log(
    `\n## ${name}: wall p50 ${median(walls).toFixed(1)} ms, ${statements.toFixed(1)} statements, ${ms.toFixed(1)} ms in them`,
  );
  for (const r of rows.sort((a, b) => b.msPerScale - a.msPerScale)) {
    console.log(
      `${r.perScale.toFixed(2).padStart(6)} × ${r.p50.toFixed(2).padStart(7)} ms (${r.msPerScale.toFixed(2).padStart(7)} ms) ${r.text}`,
    );
  }
}

/** 4 clients toggling 4 tenants for 3 s; what their connections waited on meanwhile. */
async function concurrent(): Promise<void> {
  const watcher = new pg.Client({ connectionString: database.url });
  await watcher.connect();
  const waits = new Map<string, number>();
  let samples = 0;
  let done = 0;
  const deadline = performance.now() + 3000;
  const sampling = (async () => {
    while (performance.now() < deadline) {
      const { rows } = await watcher.query<{ w: string }>(
        `SELECT coalesce(wait_event_type || ':' || wait_event, state) AS w FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`,
      );
      samples += 1;
      for (const { w } of rows) waits.set(w, (waits.get(w) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await Promise.all(
    [2, 3, 4, 5].map(async (t) => {
      for (let i = 0; performance.now() < deadline; i += 1) {
        const warm = i % 2 === 0 ? 1 : 0;
        await scale(t, { running: PER_TENANT - warm, warm });
        done += 1;
      }
    }),
  );
  await sampling;
  await watcher.end();
  console.log(`\n## 4 clients toggling: ${(done / 3).toFixed(0)} mutations/s`);
  console.log(`active connections per sample, by wait (${samples} samples):`);
  for (const [w, n] of [...waits].sort((a, b) => b[1] - a[1]))
    console.log(`  ${(n / samples).toFixed(2)} ${w}`);
}

try {
  await measured('toggle running ⇄ warm', (i) =>
    scale(1, { running: PER_TENANT - (i % 2 === 0 ? 1 : 0), warm: i % 2 === 0 ? 1 : 0 }),
  );
  const unrecorded = async (work: () => Promise<unknown>) => {
    tally.recording = false;
    const started = performance.now();
    await work();
    unrecordedMs += performance.now() - started;
    tally.recording = true;
  };
  // Each round a tenant's first scale up: a new instance, created and placed by the pass.
  await measured('scale up by one, created and placed', (i) =>
    scale(10 + i, { running: PER_TENANT + 1 }),
  );
  await measured('scale up by one (a stopped one raised)', async () => {
    await scale(0, { running: PER_TENANT + 1 });
    await unrecorded(() => scale(0, { running: PER_TENANT }));
  });
  await measured('scale down by one', async () => {
    await unrecorded(() => scale(0, { running: PER_TENANT + 1 }));
    await scale(0, { running: PER_TENANT });
  });
  await concurrent();
} finally {
  await close();
}
