import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { buildJobModule } from '../../src/executor/sdk-build.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  bundleExecutor,
  CounterServer,
  removeBundle,
  startCoordinator,
  startExecutor,
} from './executor-world.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples/jobs/assembly');
let bundle: { main: string; dir: string };
let built: string;
const wasm: Record<'counter' | 'fetch', Uint8Array> = {
  counter: new Uint8Array(),
  fetch: new Uint8Array(),
};

beforeAll(async () => {
  bundle = await bundleExecutor();
  built = await mkdtemp(join(tmpdir(), 'mvm-job-examples-'));
  for (const name of ['counter', 'fetch'] as const) {
    const file = await buildJobModule(join(EXAMPLES, `${name}.ts`), built);
    wasm[name] = new Uint8Array(await readFile(file));
  }
}, 120_000);
afterAll(async () => {
  await removeBundle(bundle.dir);
  await rm(built, { recursive: true, force: true });
});

await describeEachDatabase('AssemblyScript job examples', ({ store }) => {
  let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
  const counter = new CounterServer();
  beforeEach(async () => {
    await counter.start();
    coordinator = await startCoordinator(store());
  });
  afterEach(async () => {
    await coordinator.close();
    await counter.stop();
  });

  it('the built examples pass the module checks and run end to end through the executor', async () => {
    const first = await coordinator.submit(wasm.counter, 'workers', { input: '{"key":"runs"}' });
    const second = await coordinator.submit(wasm.counter, 'workers', { input: '{"key":"runs"}' });
    const post = await coordinator.submit(wasm.fetch, 'workers', {
      input: JSON.stringify({ url: `${counter.url}/hook` }),
    });
    const run = await startExecutor(bundle.main, coordinator.url, { maxJobs: 3 }).exited;
    expect(run.code, run.output).toBe(0);
    const results = await Promise.all([first, second, post].map((id) => store().jobs.get(id)));
    expect(
      results.map((j) => [j?.state, j?.result]),
      run.output,
    ).toEqual([
      ['succeeded', '{"count":1}'],
      ['succeeded', '{"count":2}'],
      ['succeeded', '{"status":200}'],
    ]);
    expect(await store().jobJournal.kvGet('acme', 'runs')).toEqual({ value: '2', version: 2 });
    expect(counter.keys.get('/hook')).toEqual(new Set([`${post}:0`]));
    expect(run.output).toContain('counter runs is now 2');
  }, 180_000);
});
