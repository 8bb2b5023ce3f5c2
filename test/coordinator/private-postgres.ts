import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import { freePort } from '../support/free-port.ts';

/**
 * A Postgres server of the test's own, on a temporary directory and a free loopback port, so
 * the test may stop, restart and kill it without disturbing the shared cluster other tests
 * use. As root it runs as the `postgres` user (the server refuses to run as root).
 */
export interface PrivatePostgres {
  url: string;
  /** A clean, fast shutdown: every session ends, new connections are refused. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Ends every client session from a second connection, as an operator would; returns how many. */
  terminateBackends(): Promise<number>;
  close(): Promise<void>;
}

const runner = new NodeProcessRunner();
const ROOT = '/usr/lib/postgresql';

/** The newest server's bin directory, or why there is none usable here. */
export function postgresBinaries(): { bin: string } | { missing: string } {
  const versions = existsSync(ROOT)
    ? readdirSync(ROOT)
        .filter((v) => existsSync(join(ROOT, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) return { missing: `no PostgreSQL server binaries under ${ROOT}` };
  if (process.getuid?.() === 0 && !existsSync('/usr/sbin/runuser')) {
    return { missing: 'running as root without runuser to drop to the postgres user' };
  }
  return { bin: join(ROOT, newest, 'bin') };
}

export async function startPrivatePostgres(bin: string): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-private-pg-'));
  const asRoot = process.getuid?.() === 0;
  // In the server's own directory: the postgres user may not enter the caller's.
  const run = (tool: string, args: string[], check = true) =>
    asRoot
      ? runner.run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], {
          check,
          cwd: dir,
        })
      : runner.run(join(bin, tool), args, { check, cwd: dir });
  if (asRoot) await runner.run('chown', ['postgres:postgres', dir]);
  const data = join(dir, 'data');
  await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const pgCtl = (...args: string[]) =>
    run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', ...args]);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await pgCtl('-o', options, 'start');
  return {
    url,
    stop: async () => void (await pgCtl('-m', 'fast', 'stop')),
    start: async () => void (await pgCtl('-o', options, 'start')),
    async terminateBackends() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const result = await client.query<{ n: number }>(
          `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
           where pid <> pg_backend_pid() and backend_type = 'client backend'`,
        );
        return result.rows[0]?.n ?? 0;
      } finally {
        await client.end();
      }
    },
    async close() {
      await run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'], false);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
