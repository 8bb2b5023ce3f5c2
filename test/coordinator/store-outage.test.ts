import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import type { SpawnedProcess } from '../../src/ports/process-runner.ts';
import { until } from '../support/until.ts';
import {
  postgresBinaries,
  startPrivatePostgres,
  type PrivatePostgres,
} from './private-postgres.ts';

/**
 * A real `mvm coordinator serve` on a Postgres server of the test's own, whose sessions are
 * killed and which is then restarted under it. The coordinator must stay up, answer 503
 * store_unavailable (with a retry hint) while the database is away, and serve again by
 * itself, scheduler and node-loss check included, once it is back.
 */
const MVM = resolve(import.meta.dirname, '../../bin/mvm');
const LOST_AFTER_MS = 3_000;
const binaries = postgresBinaries();
if ('missing' in binaries) {
  const why = `store outage test: ${binaries.missing}; install postgresql (scripts/ensure-postgres.sh)`;
  if (process.env.CI) throw new Error(`${why}; it must run in CI`);
  console.log(`[skip] ${why}`);
}

interface Coordinator {
  process: SpawnedProcess;
  exitCode: number | null | undefined;
  url: string;
  token: string;
  log: () => Promise<string>;
}

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { error?: { code?: string; message?: string } } & Record<string, unknown>;
}

let database: PrivatePostgres | undefined;
let coordinator: Coordinator | undefined;
let dataDir: string | undefined;

async function startCoordinator(databaseUrl: string, dir: string): Promise<Coordinator> {
  const logFile = join(dir, 'coordinator.log');
  const args = ['--data-dir', dir, 'coordinator', 'serve', '--listen', '127.0.0.1:0'];
  const flags = ['--database', databaseUrl, '--node-lost-after-ms', String(LOST_AFTER_MS)];
  const process = new NodeProcessRunner().spawn(MVM, [...args, ...flags], { logFile });
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  const started: Coordinator = { process, exitCode: undefined, url: '', token: '', log };
  void process.exited.then((code) => (started.exitCode = code));
  started.url = await until(
    'the coordinator to listen',
    async () => {
      if (started.exitCode !== undefined) throw new Error(`coordinator exited: ${await log()}`);
      return /mvm coordinator listening on (http:\/\/\S+)/.exec(await log())?.[1];
    },
    30_000,
  );
  started.token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
  return started;
}

async function api(method: string, path: string, body?: unknown): Promise<Answer> {
  const c = coordinator;
  if (!c) throw new Error('no coordinator');
  const response = await fetch(`${c.url}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (text === '' ? {} : JSON.parse(text)) as Answer['body'],
  };
}

/** Repeats a request until it gives `status`; meanwhile only a 503 is an acceptable answer. */
async function eventually(status: number, request: () => Promise<Answer>): Promise<Answer> {
  return until(
    `a ${status} answer`,
    async () => {
      const answer = await request();
      if (answer.status === status) return answer;
      if (answer.status !== 503)
        throw new Error(`got ${answer.status}: ${JSON.stringify(answer.body)}`);
      return undefined;
    },
    15_000,
    100,
  );
}

function expectStoreUnavailable(answer: Answer): void {
  expect({ status: answer.status, code: answer.body.error?.code }).toEqual({
    status: 503,
    code: 'store_unavailable',
  });
  expect(answer.retryAfter).toBe('2');
  expect(answer.body.error?.message).toMatch(/database is unavailable.*retry in 2 s/);
  // Where the database lives is the coordinator's business, not the caller's.
  expect(JSON.stringify(answer.body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|5432/);
}

const heartbeat = {
  capacity: { vcpus: 4, memMib: 4096, diskGib: 20 },
  usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1000 },
  instances: [],
};

describe.skipIf('missing' in binaries)('coordinator on a Postgres that goes away', () => {
  afterEach(async () => {
    coordinator?.process.kill('SIGKILL');
    await coordinator?.process.exited;
    await database?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    coordinator = undefined;
    database = undefined;
    dataDir = undefined;
  });

  it('answers 503 store_unavailable while it is away and serves again by itself once back', async () => {
    if ('missing' in binaries) return;
    database = await startPrivatePostgres(binaries.bin);
    dataDir = await mkdtemp(join(tmpdir(), 'mvm-outage-'));
    coordinator = await startCoordinator(database.url, dataDir);
    expect((await api('POST', '/tenants', { id: 'before' })).status).toBe(201);
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    expect((await api('POST', '/tenants/before/pools', pool)).status).toBe(201);
    const node = { hostname: 'n1', arch: 'x86_64', capacity: heartbeat.capacity };
    expect((await api('PUT', '/nodes/node-1', node)).status).toBe(200);

    // Every session killed from outside: the idle ones' errors must not end the process.
    expect(await database.terminateBackends()).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(coordinator.exitCode).toBeUndefined();
    expect(
      (await eventually(201, () => api('POST', '/tenants', { id: 'after-kill' }))).status,
    ).toBe(201);

    // A real restart, longer than the node-loss timeout, with a watcher waiting through it.
    expect((await api('POST', '/nodes/node-1/heartbeat', heartbeat)).status).toBe(200);
    const watching = api('GET', '/nodes/node-1/desired?after=1000&waitMs=20000');
    const stoppedAt = Date.now();
    await database.stop();
    expectStoreUnavailable(await api('GET', '/tenants'));
    expectStoreUnavailable(await api('POST', '/tenants', { id: 'during' }));
    expectStoreUnavailable(await api('POST', '/nodes/node-1/heartbeat', heartbeat));
    expectStoreUnavailable(await watching);
    expect((await api('GET', '/health')).status).toBe(200);
    await new Promise((r) =>
      setTimeout(r, Math.max(0, LOST_AFTER_MS + 1_000 - (Date.now() - stoppedAt))),
    );
    expect(coordinator.exitCode).toBeUndefined();

    await database.start();
    const restartedAt = Date.now();
    await eventually(201, () => api('POST', '/tenants', { id: 'after-restart' }));
    expect(Date.now() - restartedAt).toBeLessThan(10_000);
    // No heartbeat could land while it was away: the node gets a full timeout again, so the
    // loss checks that run meanwhile (every LOST_AFTER_MS / 3) leave it ready.
    await new Promise((r) => setTimeout(r, LOST_AFTER_MS / 2));
    const beat = await api('POST', '/nodes/node-1/heartbeat', heartbeat);
    expect(beat.body).toMatchObject({ recovered: false, node: { status: 'ready' } });

    // The write after the restart is kept; the one refused during it left nothing behind.
    expect((await api('GET', '/tenants/after-restart')).status).toBe(200);
    expect((await api('GET', '/tenants/during')).status).toBe(404);
    const direct = new pg.Client({ connectionString: database.url });
    await direct.connect();
    const rows = (await direct.query('select id from tenants order by id')).rows as Array<{
      id: string;
    }>;
    await direct.end();
    expect(rows.map((r) => r.id)).toEqual(['after-kill', 'after-restart', 'before']);

    // The scheduler's lock is taken on a new session; watchers are served again.
    expect((await api('POST', '/tenants/before/pools/web/scale', { running: 1 })).status).toBe(200);
    const placed = (await api('GET', '/instances?tenant=before')).body as unknown as Array<{
      nodeId: string | null;
    }>;
    expect(placed.map((i) => i.nodeId)).toEqual(['node-1']);
    expect((await api('GET', '/nodes/node-1/desired')).status).toBe(200);
    const events = (await api('GET', '/events?last=100')).body as unknown as Array<{
      action: string;
    }>;
    expect(events.map((e) => e.action)).not.toContain('node.lost');

    expect(coordinator.exitCode).toBeUndefined();
    const log = await coordinator.log();
    expect(log).toContain('database unavailable; answered 503');
    expect(log).not.toMatch(/unhandled|Unhandled 'error' event/);
    coordinator.process.kill('SIGTERM');
    expect(await coordinator.process.exited).toBe(0);
  }, 60_000);
});
