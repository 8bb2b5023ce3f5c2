/**
 * What the transport to Postgres costs per statement: the store's pool (openDatabase: Kysely,
 * resilientPool, pipelined begin) on one fresh database, reached over TCP (MVM_TEST_PG_URL)
 * and over the server's Unix socket (`postgres://u:p@/db?host=DIR`), alternated A B A B.
 * Each round runs, one after the other, short transactions as a scale's are (begin written
 * with a row locked `for update`, a read of 20 rows, commit) and reports, per transaction,
 * this process's CPU (user and kernel) and the database's backends' (from /proc: the server
 * must run on this host). CPU, not wall time: the host's load moves it less.
 *   npx tsx bench/pg-transport.ts [--socket-dir /var/run/postgresql] [--rounds 4]
 *     [--transactions 2000]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/open-store.ts';
import { overSocket } from '../src/db/store-url.ts';
import { freshDatabase } from './support/fleet-seed.ts';
import { backendSecs, PgBackendCpu } from './support/pg-backend-cpu.ts';

const { values: flags } = parseArgs({
  options: {
    'socket-dir': { type: 'string', default: '/var/run/postgresql' },
    rounds: { type: 'string', default: '4' },
    transactions: { type: 'string', default: '2000' },
  },
});
const rounds = Number(flags.rounds);
const transactions = Number(flags.transactions);

const database = await freshDatabase('postgres');
const urls = { tcp: database.url, socket: overSocket(database.url, flags['socket-dir']) };
try {
  const setup = openDatabase(database.url);
  await sql`create table bench_rows as
    select g as id, md5(g::text) as v from generate_series(1, 20) g`.execute(setup.db);
  await sql`alter table bench_rows add primary key (id)`.execute(setup.db);
  await setup.db.destroy();
  const backends = await PgBackendCpu.open(database.url);
  console.log(`| round | transport | client µs/tx (of it kernel) | backend µs/tx | load |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (let round = 1; round <= rounds; round += 1) {
    for (const transport of ['tcp', 'socket'] as const) {
      const { db } = openDatabase(
        `${urls[transport]}${urls[transport].includes('?') ? '&' : '?'}pool_max=1`,
      );
      const once = () =>
        db.transaction().execute(async (trx) => {
          await sql`select id from bench_rows where id = 1 for update`.execute(trx);
          await sql`select * from bench_rows order by id`.execute(trx);
        });
      for (let i = 0; i < 200; i += 1) await once(); // the connection and its plans
      const pg0 = await backends.sample();
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < transactions; i += 1) await once();
      const cpu = process.cpuUsage(cpu0);
      const pg = backendSecs(pg0, await backends.sample());
      await db.destroy();
      const us = (micros: number) => (micros / transactions).toFixed(0);
      const load = loadavg()[0]?.toFixed(1);
      console.log(
        `| ${round} | ${transport} | ${us(cpu.user + cpu.system)} (${us(cpu.system)}) | ${us((pg.userSecs + pg.sysSecs) * 1e6)} | ${load} |`,
      );
    }
  }
  await backends.close();
} finally {
  await database.drop();
}
