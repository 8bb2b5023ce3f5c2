import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/core/errors.ts';
import { serveCoordinator } from '../../src/coordinator/serve.ts';
import { lockSqliteStore } from '../../src/db/sqlite-store-lock.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import type { SpawnedProcess } from '../../src/ports/process-runner.ts';
import { until } from '../support/until.ts';

/**
 * One coordinator per SQLite database (issue 10, item 6): a second is refused with a clear
 * message while the first lives, also across processes; the claim dies with its process,
 * even by SIGKILL; and a write from another process makes the coordinator wait
 * (busy_timeout, transactions begun IMMEDIATE) instead of answering 500 "database is locked".
 */
const MVM = resolve(import.meta.dirname, '../../bin/mvm');
const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3');
const quiet = pino({ level: 'silent' });
const runner = new NodeProcessRunner();

interface Coordinator {
  process: SpawnedProcess;
  url: string;
  token: string;
  log: () => Promise<string>;
}

let dir: string | undefined;
const started: SpawnedProcess[] = [];

function spawnCoordinator(dataDir: string, name: string) {
  const logFile = join(dataDir, `${name}.log`);
  const args = ['--data-dir', dataDir, 'coordinator', 'serve', '--listen', '127.0.0.1:0'];
  const child = runner.spawn(MVM, args, { logFile });
  started.push(child);
  return { child, log: () => readFile(logFile, 'utf8').catch(() => '') };
}

async function startCoordinator(dataDir: string, name: string): Promise<Coordinator> {
  const { child, log } = spawnCoordinator(dataDir, name);
  let exited: number | null | undefined;
  void child.exited.then((code) => (exited = code));
  const url = await until(
    `coordinator ${name} to listen`,
    async () => {
      if (exited !== undefined) throw new Error(`coordinator ${name} exited: ${await log()}`);
      return /mvm coordinator listening on (http:\/\/\S+)/.exec(await log())?.[1];
    },
    45_000,
  );
  const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
  return { process: child, url, token, log };
}

async function post(c: Coordinator, path: string, body: unknown): Promise<number> {
  const response = await fetch(`${c.url}/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.text();
  return response.status;
}

/**
 * Another process writing the database now and then, as a tool might: each transaction holds
 * the write lock a few milliseconds.
 */
function outsideWriter(database: string, forMs: number): SpawnedProcess {
  const script = `
    const Database = require(${JSON.stringify(BETTER_SQLITE3)});
    const db = new Database(${JSON.stringify(database)}, { timeout: 10000 });
    db.exec('create table if not exists outside_writer (at text)');
    const insert = db.prepare('insert into outside_writer values (?)');
    const nap = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    const end = Date.now() + ${forMs};
    while (Date.now() < end) {
      db.exec('begin immediate');
      insert.run(new Date().toISOString());
      nap(4);
      db.exec('commit');
      nap(12);
    }`;
  const child = runner.spawn(process.execPath, ['-e', script]);
  started.push(child);
  return child;
}

describe('one coordinator per SQLite database', () => {
  afterEach(async () => {
    for (const child of started.splice(0)) {
      child.kill('SIGKILL');
      await child.exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('refuses a second coordinator in the same process, and starts once the first stopped', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-one-coordinator-'));
    const settings = {
      listen: '127.0.0.1:0',
      databaseUrl: join(dir, 'coordinator.sqlite'),
      clusterCidr: '10.240.0.0/12',
      adminToken: 'test-admin-token-7f3e9a1c5b2d8046e1a3c9f7b5d2e8a4',
      dataDir: dir,
    };
    const first = await serveCoordinator(settings, { logger: quiet });
    const refused = await serveCoordinator(settings, { logger: quiet }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect((refused as Error).message).toBe(
      `another mvm coordinator (pid ${process.pid}) is already serving the SQLite database ${settings.databaseUrl} (it holds ${settings.databaseUrl}.lock); stop it first, or give this one its own --data-dir or --database`,
    );
    expect((await fetch(`${first.url}/v1/health`)).status).toBe(200);
    expect((await stat(`${settings.databaseUrl}.lock`)).mode & 0o777).toBe(0o600);
    await first.close();
    const second = await serveCoordinator(settings, { logger: quiet });
    await second.close();
    // Postgres serves several coordinators; :memory: is nobody else's.
    expect(lockSqliteStore('postgres://mvm@127.0.0.1/mvm').path).toBeUndefined();
    expect(lockSqliteStore(':memory:').path).toBeUndefined();
  });

  it('refuses a second coordinator process with exit 5, and a SIGKILLed one blocks nothing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-one-coordinator-'));
    const first = await startCoordinator(dir, 'first');
    const second = spawnCoordinator(dir, 'second');
    let exited: number | null | undefined;
    void second.child.exited.then((code) => (exited = code));
    const outcome = await until(
      'the second coordinator to exit or listen',
      async () => {
        if (exited !== undefined) return `exit ${exited}`;
        return /listening on/.test(await second.log()) ? 'listening' : undefined;
      },
      45_000,
    );
    expect(outcome).toBe('exit 5');
    const refusal = await second.log();
    expect(refusal).toContain(
      `another mvm coordinator (pid ${first.process.pid}) is already serving the SQLite database ${join(dir, 'coordinator.sqlite')}`,
    );
    expect(refusal).toContain('stop it first, or give this one its own --data-dir');
    expect(await post(first, '/tenants', { id: 'kept' })).toBe(201);

    first.process.kill('SIGKILL');
    expect(await first.process.exited).toBeNull();
    const third = await startCoordinator(dir, 'third');
    expect(await post(third, '/tenants', { id: 'after-kill' })).toBe(201);
    third.process.kill('SIGTERM');
    expect(await third.process.exited).toBe(0);
  });

  it('waits for another process writing the database instead of failing writes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-one-coordinator-'));
    const coordinator = await startCoordinator(dir, 'coordinator');
    const writer = outsideWriter(join(dir, 'coordinator.sqlite'), 60_000);
    const statuses: number[] = [];
    for (let batch = 0; batch < 20; batch += 1) {
      const creates = Array.from({ length: 10 }, (_, i) =>
        post(coordinator, '/tenants', { id: `t${batch * 10 + i}` }),
      );
      statuses.push(...(await Promise.all(creates)));
    }
    writer.kill('SIGKILL');
    expect(statuses.filter((s) => s !== 201)).toEqual([]);
    expect(await coordinator.log()).not.toMatch(/database is locked|SQLITE_BUSY/);
  });
});
