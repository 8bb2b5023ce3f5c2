import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { serve, type ServerType } from '@hono/node-server';
import { adoptedCoordinator } from '../coordinator/jobs/jobs-app-fixture.ts';
import type { Store } from '../../src/ports/store.ts';
import { instance, node, pool, tenant } from '../db/fixtures.ts';

const ROOT = resolve(import.meta.dirname, '../..');
export const ADMIN = 'executor-admin-token-0123456789abcdef-8e1f2a3b4c5d';

/**
 * Bundles the executor the way a guest gets it (one ESM file per thread, Node 18 target), so
 * the tests run the artifact and pay no TypeScript loader per process.
 */
export async function bundleExecutor(): Promise<{ main: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-executor-'));
  await promisify(execFile)(join(ROOT, 'node_modules/.bin/esbuild'), [
    join(ROOT, 'src/executor/main.ts'),
    join(ROOT, 'src/executor/wasm-thread.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node18',
    `--outdir=${dir}`,
    '--out-extension:.js=.mjs',
    '--log-level=warning',
  ]);
  return { main: join(dir, 'main.mjs'), dir };
}

/** A loopback server counting raw hits and distinct Idempotency-Keys per path. */
export class CounterServer {
  readonly hits = new Map<string, number>();
  readonly keys = new Map<string, Set<string>>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const path = request.url ?? '/';
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      const key = request.headers['idempotency-key'];
      if (typeof key === 'string') {
        const seen = this.keys.get(path) ?? new Set<string>();
        seen.add(key);
        this.keys.set(path, seen);
      }
      request.resume();
      // /slow/… answers late, so a test can stop the executor while the call is in flight.
      const wait = path.startsWith('/slow/') ? 1500 : 0;
      request.on('end', () => setTimeout(() => response.end(JSON.stringify({ path })), wait));
    });
    await new Promise<void>((done) => this.server?.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(path: string): { hits: number; keys: number } {
    return { hits: this.hits.get(path) ?? 0, keys: this.keys.get(path)?.size ?? 0 };
  }

  async stop(): Promise<void> {
    await new Promise<void>((done) => this.server?.close(() => done()));
  }
}

/**
 * A coordinator on loopback HTTP over `store`: tenant acme, node node-1, and for each pool
 * named (default `workers`) two worker instances `<pool>-1`, `<pool>-2` placed on node-1.
 */
export async function startCoordinator(store: Store, pools: string[] = ['workers']) {
  const created = await adoptedCoordinator(store, ADMIN);
  await store.tenants.insert(tenant('acme', 1));
  await store.nodes.upsert(node('node-1'));
  let host = 10;
  for (const id of pools) {
    await store.pools.insert(pool('acme', id));
    for (const n of [1, 2]) {
      host += 1;
      await store.instances.insert(instance(`${id}-${n}`, host, { poolId: id, nodeId: 'node-1' }));
    }
  }
  const server = await new Promise<ServerType>((done) => {
    const s = serve({ fetch: created.app.fetch, hostname: '127.0.0.1', port: 0 }, () => done(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The sweeper, faster than serve's: leases in these tests last three seconds.
  const sweeper = setInterval(() => void created.services.jobs.sweep().catch(() => undefined), 250);
  return {
    url,
    services: created.services,
    async submit(
      wasm: Uint8Array,
      poolId = 'workers',
      extra: Record<string, unknown> = {},
    ): Promise<string> {
      const response = await fetch(`${url}/v1/tenants/acme/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          pool: poolId,
          wasm: Buffer.from(wasm).toString('base64'),
          ...extra,
        }),
      });
      const body = (await response.json()) as { job: { id: string } };
      return body.job.id;
    },
    async close(): Promise<void> {
      clearInterval(sweeper);
      created.services.jobs.close();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

export interface ExecutorRun {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
}

/** Starts one executor process for worker `<pool>-<n>`; `fault` is MVM_EXECUTOR_FAULT. */
export function startExecutor(
  main: string,
  coordinatorUrl: string,
  options: {
    pool?: string;
    n?: number;
    fault?: string;
    maxJobs?: number;
    idleExitMs?: number;
    /**
     * Shifts the executor process's wall clock (Date.now) by this much, as a worker guest's
     * clock that lags or leads the coordinator's; its monotonic clock is left alone.
     */
    clockSkewMs?: number;
  } = {},
): ExecutorRun {
  const poolId = options.pool ?? 'workers';
  const skew = options.clockSkewMs ?? 0;
  const args = [
    ...(skew === 0
      ? []
      : ['--import', `data:text/javascript,const r=Date.now;Date.now=()=>r()+(${skew});`]),
    main,
    '--url',
    coordinatorUrl,
    '--node',
    'node-1',
    '--tenant',
    'acme',
    '--pool',
    poolId,
    '--worker',
    `${poolId}-${options.n ?? 1}`,
    '--lease-ms',
    // Short, so a killed executor's job comes back soon; not so short that a loaded 2-core
    // host (load average above 10 here) makes a live executor miss its heartbeats.
    '3000',
    '--max-jobs',
    String(options.maxJobs ?? 1),
    '--idle-exit-ms',
    String(options.idleExitMs ?? 20_000),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, MVM_EXECUTOR_TOKEN: ADMIN };
  delete env.MVM_EXECUTOR_FAULT;
  if (options.fault !== undefined) env.MVM_EXECUTOR_FAULT = options.fault;
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    output: string;
  }>((done) => child.once('exit', (code, signal) => done({ code, signal, output })));
  return { child, exited };
}

export async function removeBundle(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
