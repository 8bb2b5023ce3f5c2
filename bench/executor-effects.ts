/**
 * Effects per second through one executor (issue 14): a job making N journaled calls (`now`:
 * no outside work, so this is the journal's cost: a record and a complete per call, each a
 * fenced store transaction behind an HTTP round trip) and N kv_set calls (performed by the
 * store in the completing transaction). Measured from the job's claim to its completion, on
 * SQLite and Postgres, executor and coordinator on this host over loopback.
 *   npx tsx bench/executor-effects.ts [calls]
 */
import { openStore } from '../src/db/open-store.ts';
import { databases } from '../test/support/databases.ts';
import { callsModule, type Call } from '../test/executor/job-modules.ts';
import {
  bundleExecutor,
  removeBundle,
  startCoordinator,
  startExecutor,
} from '../test/executor/executor-world.ts';

const CALLS = Number(process.argv[2] ?? 300);

const programs: Record<string, Call[]> = {
  now: Array.from({ length: CALLS }, () => ['now', '{}'] as Call),
  kv_set: Array.from(
    { length: CALLS },
    (_, i) => ['kv_set', JSON.stringify({ key: `k${i % 10}`, value: String(i) })] as Call,
  ),
};

const bundle = await bundleExecutor();
const rows: string[] = [];
try {
  for (const kind of databases) {
    const database = await kind.open();
    const store = await openStore(database.url);
    const coordinator = await startCoordinator(store);
    try {
      for (const [name, calls] of Object.entries(programs)) {
        const id = await coordinator.submit(callsModule(calls));
        const run = await startExecutor(bundle.main, coordinator.url).exited;
        const job = await store.jobs.get(id);
        if (job?.state !== 'succeeded' || job.startedAt === null || job.finishedAt === null) {
          throw new Error(`${name} on ${kind.name}: ${job?.state}\n${run.output}`);
        }
        const seconds = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
        rows.push(`| ${kind.name} | ${name} | ${CALLS} | ${(CALLS / seconds).toFixed(0)} |`);
      }
    } finally {
      await coordinator.close();
      await store.close();
      await database.cleanup();
    }
  }
} finally {
  await removeBundle(bundle.dir);
}
process.stdout.write(
  ['| store | op | calls | effects/s |', '| --- | --- | --- | --- |', ...rows].join('\n') + '\n',
);
