import fc from 'fast-check';
import { expect, it } from 'vitest';
import { describeEachDatabase, type StoreHarness } from '../support/store-harness.ts';
import { apiOver, type Api } from './api-client-harness.ts';
import { createPool, expectInvariants } from './concurrency-harness.ts';
import {
  NODE,
  TENANTS,
  burstArb,
  onItsMerits,
  quotasArb,
  send,
  type Command,
} from './concurrent-commands.ts';

/**
 * Many clients at once, in mixes fast-check draws: scales, instance actions, agent reports,
 * pool creates and destroys, quota changes, tenant creates without a net id and forced
 * destroys, against the coordinators of one database with a node to place on. Whatever the
 * interleaving: no quota exceeded, no net id, subnet, IP or MAC twice, every answer one the
 * request earned on its own (never a 5xx, never a conflict that only says another request was
 * in flight). Bounded: a few dozen requests per run and 15 runs per store, every time CI
 * runs; each original race of issue 10 failed it within the first two runs.
 */
const RUNS = 15;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function addNode(api: Api): Promise<void> {
  const capacity = { vcpus: 4096, memMib: 4_194_304, diskGib: 100_000 };
  const node = { hostname: `${NODE}.test`, arch: 'x86_64', capacity };
  expect((await api.call('PUT', `/nodes/${NODE}`, { body: node })).status).toBe(200);
}

/**
 * Tenants ta and tb with the drawn quotas, pools pa and pb, and in pa one placed instance of
 * each kind (the smallest quotas drawn allow that) for actions and reports to meet.
 */
async function seed(api: Api, prefix: string, quotas: ReadonlyArray<Record<string, number>>) {
  for (const [i, q] of quotas.entries()) {
    const id = `${prefix}-${TENANTS[i] ?? 'ta'}`;
    const created = await api.call('POST', '/tenants', { body: { id, quotas: q } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    for (const pool of ['pa', 'pb']) await createPool(api, id, pool);
    const counts = { running: 1, warm: 1, sleeping: 1 };
    const scaled = await api.call('POST', `/tenants/${id}/pools/pa/scale`, { body: counts });
    expect(scaled.status, JSON.stringify(scaled.body)).toBe(200);
  }
}

async function clear(api: Api, prefix: string): Promise<void> {
  for (const t of TENANTS) {
    const answer = await api.call('DELETE', `/tenants/${prefix}-${t}?force=true`);
    expect([200, 404]).toContain(answer.status);
  }
}

/**
 * One burst on tenants of their own, its requests dealt round the coordinators; then the
 * invariants, then every answer's merit.
 */
async function burstHolds(
  coordinators: readonly Api[],
  prefix: string,
  quotas: ReadonlyArray<Record<string, number>>,
  commands: ReadonlyArray<readonly [Command, number]>,
): Promise<void> {
  const api = coordinators[0] as Api;
  await seed(api, prefix, quotas);
  const outcomes = await Promise.all(
    commands.map(async ([command, delay], i) => {
      await pause(delay);
      return send(coordinators[i % coordinators.length] as Api, prefix, command);
    }),
  );
  await expectInvariants(api);
  const wrong = outcomes.filter((o, i) => !onItsMerits(commands[i]?.[0] ?? ({} as Command), o));
  expect(wrong.map((o) => `${o.label} → ${o.status} ${o.code}: ${o.message}`)).toEqual([]);
  await clear(api, prefix);
}

/**
 * On Postgres, two coordinator replicas over one database, as production runs them (their
 * instance-id suffixes kept apart, as random ones would be); on SQLite the one coordinator a
 * database allows.
 */
async function coordinatorsOver(db: StoreHarness): Promise<Api[]> {
  const first = await apiOver(db.store());
  if (db.name !== 'postgres') return [first];
  let counter = 0;
  const randomSuffix = () => `b${(counter += 1)}`;
  return [first, await apiOver(await db.reopen(), { randomSuffix })];
}

await describeEachDatabase('concurrent clients, property-based', (db) => {
  it('keep quotas, unique addresses and answers on their merits in any mix', async () => {
    const coordinators = await coordinatorsOver(db);
    await addNode(coordinators[0] as Api);
    let run = 0;
    const twoTenants = fc.array(quotasArb, { minLength: 2, maxLength: 2 });
    await fc.assert(
      fc.asyncProperty(twoTenants, burstArb, (quotas, commands) =>
        burstHolds(coordinators, `r${(run += 1)}`, quotas, commands),
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
  });
});
