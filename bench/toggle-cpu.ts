/**
 * The CPU one running ⇄ warm toggle costs the coordinator by itself: an in-process coordinator
 * (`app.request`, no HTTP, no watchers, so no documents) over Postgres seeded like
 * bench/fleet-scale.ts (100 nodes, tenants of 200 placed running instances), one client
 * toggling one tenant's pool, this process's CPU (user + system) per toggle over rounds of
 * toggles, with Postgres' CPU per toggle (its backends for the bench's database) and the
 * toggle's wall time. Compare builds by running it from each, alternated: the figure includes the
 * in-process request and response objects, the same in both.
 *   npx tsx bench/toggle-cpu.ts [instances, default 10000] [rounds, default 5] [toggles, default 300]
 */
import { tenantId } from './support/fleet-seed.ts';
import { backendSecs, PgBackendCpu } from './support/pg-backend-cpu.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { median } from './support/stats.ts';

const size = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 5);
const toggles = Number(process.argv[4] ?? 300);
const PER_TENANT = 200;
const NODES = 100;

const { api, database, close } = await seededFleet('postgres', {
  nodes: NODES,
  tenants: size / PER_TENANT,
  perTenant: PER_TENANT,
});
const backends = await PgBackendCpu.open(database.url);
try {
  const path = `/tenants/${tenantId(1)}/pools/w/scale`;
  const toggle = (i: number) => api('POST', path, { running: PER_TENANT - (i % 2), warm: i % 2 });
  for (let i = 0; i < 50; i += 1) await toggle(i); // warm up: compiled, JIT, caches
  const perToggle: number[] = [];
  const wall: number[] = [];
  const server: number[] = [];
  for (let r = 0; r < rounds; r += 1) {
    const before = await backends.sample();
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < toggles; i += 1) await toggle(i);
    const used = process.cpuUsage(cpu);
    wall.push((performance.now() - started) / toggles);
    const spent = backendSecs(before, await backends.sample());
    server.push(((spent.userSecs + spent.sysSecs) * 1000) / toggles);
    perToggle.push((used.user + used.system) / 1000 / toggles);
  }
  const shown = perToggle.map((ms) => ms.toFixed(2)).join(', ');
  console.log(
    `toggle CPU per mutation (ms), ${rounds} rounds of ${toggles}: ${shown}; median ${median(perToggle).toFixed(2)}`,
  );
  // Postgres' backends for this database (the bench's own sampling session left out) and the
  // toggle's wall time, one client at a time: its round trips show there.
  console.log(
    `Postgres CPU per toggle median ${median(server).toFixed(2)} ms; wall per toggle median ${median(wall).toFixed(2)} ms`,
  );
} finally {
  await backends.close();
  await close();
}
