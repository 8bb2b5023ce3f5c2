import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { bundleExecutor, removeBundle, startCoordinator, startExecutor } from './executor-world.ts';
import { callsModule } from './job-modules.ts';
import { wat } from '../support/wat.ts';

const TRAP = wat(`(module
  (import "mvm" "memory" (memory 1 2))
  (func (export "run") (result i32) unreachable))`);

/**
 * A loopback proxy in front of the coordinator that counts requests by route (the job id
 * replaced by `:job`), so the test sees which routes the executor really used.
 */
class CountingProxy {
  readonly counts = new Map<string, number>();
  readonly claimBodies: Array<{ completed?: Array<{ job: string }> }> = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        const route = path.replace(/\/jobs\/j-[a-z0-9]+\//, '/jobs/:job/');
        this.counts.set(route, (this.counts.get(route) ?? 0) + 1);
        const body = Buffer.concat(chunks);
        if (route.endsWith('/jobs/claim')) {
          this.claimBodies.push(JSON.parse(body.toString()) as { completed?: [] });
        }
        void fetch(`${this.target}${path}`, {
          method: request.method ?? 'POST',
          headers: {
            authorization: request.headers.authorization ?? '',
            'content-type': 'application/json',
          },
          body,
        }).then(async (answer) => {
          response.writeHead(answer.status, { 'content-type': 'application/json' });
          response.end(await answer.text());
        });
      });
    });
    await new Promise<void>((done) => this.server?.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(route: string): number {
    return this.counts.get(route) ?? 0;
  }

  async stop(): Promise<void> {
    await new Promise<void>((done) => this.server?.close(() => done()));
  }
}

let bundle: { main: string; dir: string };
beforeAll(async () => {
  bundle = await bundleExecutor();
}, 120_000);
afterAll(async () => removeBundle(bundle.dir));

await describeEachDatabase('executor: completion carried by the next claim', ({ store }) => {
  let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
  let proxy: CountingProxy;
  beforeEach(async () => {
    coordinator = await startCoordinator(store());
    proxy = new CountingProxy(coordinator.url);
    await proxy.start();
  });
  afterEach(async () => {
    await proxy.stop();
    await coordinator.close();
  });

  it('succeeds each job through the claim route, never the complete route; failures complete at once', async () => {
    const ok = callsModule([['kv_set', '{"key":"batched","value":"1"}']]);
    const ids = [await coordinator.submit(ok), await coordinator.submit(ok)];
    // A job whose module traps: a failure is not carried, it completes by its own route.
    const trap = await coordinator.submit(TRAP, 'workers', { maxAttempts: 1 });
    const run = startExecutor(bundle.main, proxy.url, { maxJobs: 3 });
    const exited = await run.exited;
    expect(exited.code, exited.output).toBe(0);
    for (const id of ids) {
      expect(await store().jobs.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    }
    const failed = await store().jobs.get(trap);
    expect(failed).toMatchObject({ state: 'failed', errorCode: 'trap' });
    // Two successes, each carried by a later claim; one failure by the complete route.
    const carried = proxy.claimBodies.flatMap((b) => (b.completed ?? []).map((c) => c.job));
    expect(carried.sort()).toEqual([...ids].sort());
    expect(proxy.count('/v1/nodes/node-1/jobs/:job/complete')).toBe(1);
    const lines = exited.output.split('\n').filter((l) => l.includes('"completed"'));
    expect(lines).toHaveLength(2);
    // Internal effects still changed exactly once per job: two kv_set, version 2.
    expect((await store().jobJournal.kvGet('acme', 'batched'))?.version).toBe(2);
  }, 120_000);
});
