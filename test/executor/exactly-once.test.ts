import { afterAll, beforeAll, beforeEach, afterEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { callsModule, type Call } from './job-modules.ts';
import {
  bundleExecutor,
  CounterServer,
  removeBundle,
  startCoordinator,
  startExecutor,
} from './executor-world.ts';

let bundle: { main: string; dir: string };
beforeAll(async () => {
  bundle = await bundleExecutor();
}, 60_000);
afterAll(async () => {
  await removeBundle(bundle.dir);
});

/** The contract's job: an idempotent POST, a KV write, another idempotent POST. */
function program(counter: string, idempotent = true): Call[] {
  const post = (path: string) =>
    JSON.stringify({ url: `${counter}${path}`, method: 'POST', body: 'x', idempotent });
  return [
    ['http_fetch', post('/inc/a')],
    ['kv_set', JSON.stringify({ key: 'count', value: 'one' })],
    ['http_fetch', post('/inc/b')],
  ];
}

await describeEachDatabase('executor exactly-once', ({ store }) => {
  let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
  const counter = new CounterServer();

  beforeEach(async () => {
    await counter.start();
    coordinator = await startCoordinator(store());
  });
  afterEach(async () => {
    await coordinator.close();
    await counter.stop();
    counter.hits.clear();
    counter.keys.clear();
  });

  async function finishedJob(id: string) {
    const job = await store().jobs.get(id);
    const entries = await store().jobJournal.entries(id);
    const kv = await store().jobJournal.kvGet('acme', 'count');
    return { job, entries, kv };
  }

  it('runs a job through the journal once, with keys on idempotent writes', async () => {
    const id = await coordinator.submit(callsModule(program(counter.url)));
    const run = await startExecutor(bundle.main, coordinator.url, 'w-1').exited;
    expect(run.code, run.output).toBe(0);
    const { job, entries, kv } = await finishedJob(id);
    expect(job?.state, run.output).toBe('succeeded');
    expect(job?.result).toBe('{"status":200,"body":"{\\"path\\":\\"/inc/b\\"}"}');
    expect(entries.map((e) => [e.seq, e.op, e.state])).toEqual([
      [0, 'http_fetch', 'completed'],
      [1, 'kv_set', 'completed'],
      [2, 'http_fetch', 'completed'],
    ]);
    expect(counter.count('/inc/a')).toEqual({ hits: 1, keys: 1 });
    expect(counter.keys.get('/inc/a')).toEqual(new Set([`${id}:0`]));
    expect(counter.count('/inc/b')).toEqual({ hits: 1, keys: 1 });
    expect(kv).toEqual({ value: 'one', version: 1 });
  }, 60_000);
});
