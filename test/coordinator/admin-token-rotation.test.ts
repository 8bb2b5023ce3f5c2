import Database from 'better-sqlite3';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { readTextFile } from '../../src/cli/config.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { runIn } from '../cli/support/run-cli.ts';

/**
 * The admin token across real `coordinator serve` restarts, on both stores: one admin token
 * at a time, rotation that ends the old one, weak secrets refused, no secret in any log, and
 * a data dir only its owner can read.
 */
const FIRST_ENV = 'b1c0e6f4a9d27358e0f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7';
const SECOND_ENV = '5f0a3c9e27d14b8a6c1e0f2d3b4a59687e6d5c4b3a291807f6e5d4c3b2a19080';

let running: RunningCoordinator | undefined;
const dirs: string[] = [];
/** Every line the coordinators of a test logged. */
let logs: string[] = [];
/** Every admin secret a test saw, to look for in the logs. */
let secrets: string[] = [];

async function start(databaseUrl: string, dataDir: string, adminToken?: string) {
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(line) });
  running = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl,
      clusterCidr: '10.240.0.0/12',
      dataDir,
      ...(adminToken !== undefined ? { adminToken } : {}),
    },
    { logger },
  );
  return running;
}

async function stop(): Promise<void> {
  await running?.close();
  running = undefined;
}

async function statusWith(base: string, token: string): Promise<number> {
  const response = await fetch(`${base}/v1/tenants`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.text();
  return response.status;
}

async function fileToken(dataDir: string): Promise<string> {
  const secret = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
  secrets.push(secret);
  return secret;
}

const modeOf = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

await describeEachDatabase('admin token across restarts', ({ name, url }) => {
  afterEach(async () => {
    await stop();
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    const all = logs.join('\n');
    for (const secret of [...secrets, FIRST_ENV, SECOND_ENV]) expect(all).not.toContain(secret);
    logs = [];
    secrets = [];
  });

  async function dataDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-admin-rotation-'));
    dirs.push(dir);
    return dir;
  }

  it('deleting admin.token and restarting ends the old token', async () => {
    const dir = await dataDir();
    const first = await start(url(), dir);
    const old = await fileToken(dir);
    expect(await statusWith(first.url, old)).toBe(200);
    await stop();
    await rm(join(dir, 'admin.token'));
    const second = await start(url(), dir);
    const current = await fileToken(dir);
    expect(current).not.toBe(old);
    expect(await statusWith(second.url, current)).toBe(200);
    expect(await statusWith(second.url, old)).toBe(401);
    expect(logs.join('\n')).toContain('the earlier admin tokens no longer work');
  });

  it('a changed MVM_ADMIN_TOKEN ends the previous value, and the file token too', async () => {
    const dir = await dataDir();
    await start(url(), dir);
    const fromFile = await fileToken(dir);
    await stop();
    await start(url(), dir, FIRST_ENV);
    await stop();
    const c = await start(url(), dir, SECOND_ENV);
    expect(await statusWith(c.url, SECOND_ENV)).toBe(200);
    expect(await statusWith(c.url, FIRST_ENV)).toBe(401);
    expect(await statusWith(c.url, fromFile)).toBe(401);
    await stop();
    // A revoked value is never taken back.
    const refused = await start(url(), dir, FIRST_ENV).catch((error: unknown) => error);
    expect(String(refused)).toMatch(
      /the admin token from MVM_ADMIN_TOKEN \(or coordinator.adminToken\) was revoked at .*; set a new value/,
    );
    expect(String(refused)).not.toContain(FIRST_ENV);
  });

  it("'mvm token rotate-admin' ends the old token at once and the new one survives a restart", async () => {
    const dir = await dataDir();
    const c = await start(url(), dir);
    const old = await fileToken(dir);
    const env = { MVM_COORDINATOR_URL: c.url, MVM_DATA_DIR: dir };
    const run = await runIn(['token', 'rotate-admin', '--json'], {
      env,
      readText: readTextFile,
      fetch,
    });
    expect(run.stderr).toBe('');
    const rotated = JSON.parse(run.stdout) as { token: string; revoked: string[] };
    secrets.push(rotated.token);
    expect(rotated.revoked).toHaveLength(1);
    expect(await fileToken(dir)).toBe(rotated.token);
    expect(await statusWith(c.url, old)).toBe(401);
    expect(await statusWith(c.url, rotated.token)).toBe(200);
    // The local CLI reads the new file by itself.
    const listed = await runIn(['token', 'list', '--json'], { env, readText: readTextFile, fetch });
    const tokens = JSON.parse(listed.stdout) as Array<{ scope: string; state: string }>;
    expect(tokens.map((t) => `${t.scope} ${t.state}`).sort()).toEqual([
      'admin active',
      'admin revoked',
    ]);
    expect(listed.stdout).not.toContain(rotated.token);
    await stop();
    const again = await start(url(), dir);
    expect(await statusWith(again.url, rotated.token)).toBe(200);
    expect(await statusWith(again.url, old)).toBe(401);
  });

  it("'mvm coordinator rotate-admin-token' on the host works through the store, with the coordinator running", async () => {
    const dir = await dataDir();
    const c = await start(url(), dir);
    const old = await fileToken(dir);
    const run = await runIn(
      ['coordinator', 'rotate-admin-token', '--data-dir', dir, '--database', url()],
      { readText: readTextFile },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const current = await fileToken(dir);
    expect(current).not.toBe(old);
    expect(run.stdout).toContain(`written to:  ${join(dir, 'admin.token')} (0600)`);
    expect(run.stdout).not.toContain(current);
    expect(await modeOf(join(dir, 'admin.token'))).toBe('600');
    expect(await statusWith(c.url, old)).toBe(401);
    expect(await statusWith(c.url, current)).toBe(200);
    await stop();
    // The old secret put back in the file is refused at start, with the way out.
    await writeFile(join(dir, 'admin.token'), `${old}\n`, { mode: 0o600 });
    const refused = await start(url(), dir).catch((error: unknown) => error);
    expect(String(refused)).toContain(
      `the admin token from ${join(dir, 'admin.token')} was revoked at`,
    );
    expect(String(refused)).toContain('delete the file to have a new one issued');
    expect(String(refused)).not.toContain(old);
  });

  it('refuses a configured admin token it does not hold: rotation is the operator’s', async () => {
    const dir = await dataDir();
    await start(url(), dir, FIRST_ENV);
    const run = await runIn(
      ['coordinator', 'rotate-admin-token', '--data-dir', dir, '--database', url()],
      { env: { MVM_ADMIN_TOKEN: FIRST_ENV }, readText: readTextFile },
    );
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('change the value there and restart the coordinator');
    const missing = await runIn(
      ['coordinator', 'rotate-admin-token', '--data-dir', join(dir, 'nowhere')],
      { readText: readTextFile },
    );
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("coordinator store '");
  });

  it('refuses a weak MVM_ADMIN_TOKEN before starting anything', async () => {
    const dir = await dataDir();
    for (const weak of ['short-secret', 'abcd'.repeat(10), 'x'.repeat(31)]) {
      const refused = await start(url(), dir, weak).catch((error: unknown) => error);
      expect(String(refused)).toMatch(
        /the admin token from MVM_ADMIN_TOKEN \(or coordinator.adminToken\) (is \d+ characters long|is too predictable)/,
      );
      expect(String(refused)).toContain('openssl rand -hex 32');
      expect(String(refused)).not.toContain(weak);
    }
    const cli = await runIn(['coordinator', 'serve', '--data-dir', dir, '--database', url()], {
      env: { MVM_ADMIN_TOKEN: 'admin-admin-admin-admin-admin-admin' },
    });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('coordinator.adminToken (hidden) (from env MVM_ADMIN_TOKEN)');
    expect(cli.stderr).toContain('is too predictable');
  });

  it('keeps the data dir 0700 and its secrets 0600, and tightens an older install', async () => {
    const dir = join(await dataDir(), 'state');
    // SQLite in the data dir, as by default; on Postgres the store has no files.
    const store = name === 'sqlite' ? join(dir, 'coordinator.sqlite') : url();
    await start(store, dir);
    const secretsOf = ['admin.token', 'signing.key', 'secrets.key', 'ca/ca.key'];
    const sqliteFiles = ['coordinator.sqlite', 'coordinator.sqlite-wal', 'coordinator.sqlite-shm'];
    const files = name === 'sqlite' ? [...secretsOf, ...sqliteFiles] : secretsOf;
    const modes = async () =>
      Object.fromEntries(
        await Promise.all(
          ['', 'ca', ...files].map(async (f) => [f || '.', await modeOf(join(dir, f))]),
        ),
      );
    const tight = Object.fromEntries([
      ['.', '700'],
      ['ca', '700'],
      ...files.map((f) => [f, '600']),
    ]);
    // Checked while running: -wal and -shm exist only while the store is open.
    expect(await modes()).toEqual(tight);
    await stop();

    // An older install: everything readable by all, the store held open by another process.
    for (const [f, mode] of [
      ['', 0o755],
      ['ca', 0o755],
      ...secretsOf.map((f) => [f, 0o644] as const),
    ] as const) {
      await chmod(join(dir, f), mode);
    }
    let holder: Database.Database | undefined;
    if (name === 'sqlite') {
      await chmod(join(dir, 'coordinator.sqlite'), 0o644);
      holder = new Database(join(dir, 'coordinator.sqlite'));
      holder.pragma('journal_mode = WAL');
      holder.exec('create table if not exists held (x)');
      for (const f of sqliteFiles.slice(1)) await chmod(join(dir, f), 0o644);
    }
    try {
      logs = [];
      await start(store, dir);
      expect(await modes()).toEqual(tight);
    } finally {
      holder?.close();
    }
    const tightened = logs
      .map((line) => JSON.parse(line) as { path?: string; from?: string; to?: string })
      .filter((entry) => entry.from !== undefined)
      .map((entry) => `${entry.path} ${entry.from}->${entry.to}`)
      .sort();
    expect(tightened).toEqual(
      [
        `${dir} 0755->0700`,
        `${join(dir, 'ca')} 0755->0700`,
        ...files.map((f) => `${join(dir, f)} 0644->0600`),
      ].sort(),
    );
  });
});
