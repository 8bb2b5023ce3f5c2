import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { openDatabase, openStore } from '../../src/db/open-store.ts';
import { overSocket } from '../../src/db/store-url.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { testPostgresUrl } from '../support/databases.ts';

/**
 * A Postgres store reached over the server's Unix socket (scripts/ensure-postgres.sh lets the
 * mvm role log in there by password). The socket's directory: MVM_TEST_PG_SOCKET_DIR, by
 * default Debian's /var/run/postgresql; the role, password and port: MVM_TEST_PG_URL's.
 */
const socketDir = process.env['MVM_TEST_PG_SOCKET_DIR'] ?? '/var/run/postgresql';
const tcp = new URL(testPostgresUrl());
const port = tcp.port || '5432';
const socketFile = join(socketDir, `.s.PGSQL.${port}`);
const haveSocket = existsSync(socketFile);
if (!haveSocket && process.env['CI'])
  throw new Error(`no Postgres socket at ${socketFile}: run scripts/ensure-postgres.sh`);

/** The database `tcpUrl` names, over the socket, in the form `postgres://u:p@/db?host=DIR`. */
function socketUrl(tcpUrl: string, query = ''): string {
  return `${overSocket(tcpUrl, socketDir)}${query}`;
}

await describeEachDatabase('A Postgres store over the Unix socket', (db) => {
  it.skipIf(db.name !== 'postgres' || !haveSocket)(
    'migrates and serves over the socket, with the pool size the URL asks for',
    async () => {
      const { url } = await db.fresh();
      const store = await openStore(socketUrl(url, '&pool_max=2'));
      try {
        expect(await store.tenants.list()).toEqual([]);
      } finally {
        await store.close();
      }
      // Six statements at once on a pool of two: two sessions, both on the socket (a Unix
      // socket's session has no client address and port -1).
      const { db: kysely } = openDatabase(socketUrl(url, '&pool_max=2'));
      try {
        await Promise.all(
          Array.from({ length: 6 }, () => sql`select pg_sleep(0.05)`.execute(kysely)),
        );
        const { rows } = await sql<{ addr: string | null; port: number }>`
          select client_addr::text as addr, client_port as port from pg_stat_activity
           where datname = current_database() and backend_type = 'client backend'`.execute(kysely);
        expect(rows).toHaveLength(2);
        expect(rows).toEqual([
          { addr: null, port: -1 },
          { addr: null, port: -1 },
        ]);
      } finally {
        await kysely.destroy();
      }
    },
  );

  it.skipIf(db.name !== 'postgres' || !haveSocket)(
    'opens postgresql:///db?host=DIR&user=…&password=…, and keeps a wrong password out of its error',
    async () => {
      const { url } = await db.fresh();
      const database = new URL(url).pathname;
      const form = (password: string) =>
        `postgresql://${database}?host=${socketDir}&port=${port}&user=${tcp.username}&password=${password}`;
      const store = await openStore(form(tcp.password));
      await store.close();
      const refused = await openStore(form('not-the-secret-1f9')).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(/password=\*\*\*/);
      expect((refused as Error).message).not.toMatch(/not-the-secret/);
    },
  );
});
