/**
 * What a scale's read and plan of its pool's 200 members cost, part by part, on Postgres
 * seeded like bench/fleet-scale.ts (tenants of 200 placed running instances, pool `w`):
 *
 * - `read`: `pools.withMembers` as a scale calls it (the store's prepared statement, pg's
 *   parse of the rows, the `PoolMember`s), this process's CPU and Postgres' per call;
 * - `floor`: the same statement's plan with one row sent (`count(*)` over the members' range),
 *   through the same pool: the round trip and the execution without the rows;
 * - `members`: `poolMember` over the 200 rows `read` parsed, alone;
 * - `plan`: `planPool` of a running ⇄ warm toggle over the 200 members, alone.
 *
 * Compare builds by running it from each, alternated.
 *   npx tsx bench/members-cost.ts [calls per round, default 2000] [rounds, default 5]
 */
import { sql } from 'kysely';
import { openDatabase } from '../src/db/open-store.ts';
import { poolMember, MEMBER_COLUMNS, type MemberRow } from '../src/db/repos/pool-members.ts';
import { planPool } from '../src/coordinator/services/pool-service.ts';
import type { PoolMember } from '../src/ports/store.ts';
import { tenantId } from './support/fleet-seed.ts';
import { backendSecs, PgBackendCpu } from './support/pg-backend-cpu.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { median } from './support/stats.ts';

const calls = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 5);
const PER_TENANT = 200;

const { store, database, close } = await seededFleet('postgres', {
  nodes: 100,
  tenants: 5,
  perTenant: PER_TENANT,
});
const backends = await PgBackendCpu.open(database.url);
const { db } = openDatabase(database.url);
const tenant = tenantId(1);
try {
  const read = () => store.pools.withMembers(tenant, 'w');
  const floor = () =>
    sql`SELECT count(*) FROM instances WHERE tenant_id = ${tenant} AND pool_id = 'w'`.execute(db);
  const first = await read();
  const members = first.members ?? [];
  const pool = first.pools.find((p) => p.id === 'w');
  if (!pool || members.length !== PER_TENANT) throw new Error('the seeded pool is not there');
  const rows: MemberRow[] = (
    await db
      .selectFrom('instances')
      .select(MEMBER_COLUMNS)
      .where('tenant_id', '=', tenant)
      .where('pool_id', '=', 'w')
      .execute()
  ).map((r) => ({ ...r }));
  const now = new Date();
  // A toggle as the bench's clients send it, over members running as seeded.
  const counts = { running: PER_TENANT - 1, warm: 1, sleeping: 0 };
  let sink = 0;
  const parts: Record<string, () => Promise<unknown> | unknown> = {
    read,
    floor,
    members: () => {
      const out: PoolMember[] = rows.map((r) => poolMember(tenant, 'w', r));
      sink += out.length;
    },
    plan: () => {
      sink += planPool(pool, members, now, counts).assignments.length;
    },
  };
  for (const work of Object.values(parts)) for (let i = 0; i < 200; i += 1) await work();
  const cpu: Record<string, number[]> = {};
  const server: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r += 1) {
    for (const [name, work] of Object.entries(parts)) {
      const before = await backends.sample();
      const used = process.cpuUsage();
      for (let i = 0; i < calls; i += 1) await work();
      const spent = process.cpuUsage(used);
      const pg = backendSecs(before, await backends.sample());
      (cpu[name] ??= []).push(((spent.user + spent.system) / calls) * 1e-3);
      (server[name] ??= []).push(((pg.userSecs + pg.sysSecs) * 1000) / calls);
    }
  }
  for (const name of Object.keys(parts)) {
    console.log(
      `${name.padEnd(8)} coordinator CPU per call median ${median(cpu[name] ?? []).toFixed(3)} ms` +
        ` (${(cpu[name] ?? []).map((ms) => ms.toFixed(3)).join(', ')});` +
        ` Postgres ${median(server[name] ?? []).toFixed(3)} ms`,
    );
  }
  if (sink < 0) console.log(sink);
} finally {
  await db.destroy();
  await backends.close();
  await close();
}
