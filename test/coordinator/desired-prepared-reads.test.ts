/**
 * A node's document computation sends only statements compiled once (db/compiled-statement.ts):
 * on Postgres each is one named prepared statement on the session whatever the number of
 * tenants (lists of ids are one array parameter), so none is parsed and planned per call
 * (docs/scale.md, "A document's reads compiled once"). And the nodes holding each tenant
 * (`nodes.tenantNodes`) come back once per set of nodes, the same on both stores.
 */
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { ephemeralSigningKey } from '../../src/coordinator/desired/signing-key.ts';
import { DesiredService } from '../../src/coordinator/services/desired-service.ts';
import { KyselyStore } from '../../src/db/kysely-store.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { type Api, apiOver, expectOk as ok, fixedClock } from './api-client-harness.ts';

async function node(api: Api, id: string): Promise<void> {
  const capacity = { vcpus: 64, memMib: 262144, diskGib: 100 };
  await ok(api, 'PUT', `/nodes/${id}`, { hostname: id, arch: 'x86_64', capacity });
}

/** Tenants t{from}..t{to-1}, each with pool `web` of `running` instances. */
async function tenants(api: Api, from: number, to: number, running: number): Promise<void> {
  for (let t = from; t < to; t += 1) {
    await ok(api, 'POST', '/tenants', {
      id: `t${t}`,
      netId: 10 + t,
      subnet: `10.240.${10 + t}.0/24`,
    });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await ok(api, 'POST', `/tenants/t${t}/pools`, pool);
    await ok(api, 'POST', `/tenants/t${t}/pools/web/scale`, { running });
  }
}

/** Per tenant, its distinct nodes in order, from the allocations read row by row. */
async function heldFromAllocations(store: Store, tenantIds: string[]) {
  const held = new Map<string, Set<string>>();
  for (const a of await store.nodes.allocations({ tenantIds })) {
    if (a.instances === 0) continue;
    held.set(a.tenantId, (held.get(a.tenantId) ?? new Set()).add(a.nodeId));
  }
  return [...held.keys()]
    .sort()
    .map((tenantId) => ({ tenantId, nodeIds: [...(held.get(tenantId) ?? [])].sort() }));
}

await describeEachDatabase('a document computation’s reads', (db) => {
  it('reads the tenants’ nodes once per set of nodes, as the allocations list them', async () => {
    const store = db.store();
    const api = await apiOver(store);
    for (const n of ['node-b', 'node-a', 'node-c']) await node(api, n);
    // One to three instances each: some tenants on one node, some on two or three.
    for (let t = 0; t < 9; t += 1) await tenants(api, t, t + 1, 1 + (t % 3));
    const ids = ['t8', 'tx', ...Array.from({ length: 8 }, (_, t) => `t${t}`)];

    const answer = await store.nodes.tenantNodes(ids);
    expect(answer).toEqual(await heldFromAllocations(store, ids));
    expect(answer.map((t) => t.tenantId)).toEqual(Array.from({ length: 9 }, (_, t) => `t${t}`));
    // Tenants on the same nodes share one list: read and parsed once.
    const byNodes = new Map<string, readonly string[]>();
    let shared = 0;
    for (const { nodeIds } of answer) {
      const kept = byNodes.get(nodeIds.join());
      if (kept) {
        expect(nodeIds).toBe(kept);
        shared += 1;
      } else byNodes.set(nodeIds.join(), nodeIds);
    }
    expect(shared).toBeGreaterThan(0);
    expect(await store.nodes.tenantNodes(['tx'])).toEqual([]);
  });

  it.skipIf(db.name !== 'postgres')(
    'sends each of its statements as one named prepared statement, whatever the tenants',
    async () => {
      const api = await apiOver(db.store());
      await node(api, 'node-1');
      await node(api, 'node-2');
      await tenants(api, 0, 2, 2);
      // A store over one connection, recording the text of each statement it sends.
      const sent: string[] = [];
      const url = `${db.url()}${db.url().includes('?') ? '&' : '?'}pool_max=1`;
      const {
        db: kysely,
        dialect,
        prepared,
      } = openDatabase(url, undefined, (text) => sent.push(text));
      const store = new KyselyStore(kysely, dialect, prepared ? { prepared } : {});
      const session = async () =>
        (
          await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(
            kysely,
          )
        ).rows.map((r) => r.statement);
      try {
        const notifier = new ChangeNotifier();
        const replica = () =>
          new DesiredService({
            store,
            clock: fixedClock,
            signingKey: ephemeralSigningKey(),
            notifier,
          });
        /** The statements of a first computation (rows read in full) and of a patched one. */
        const computations = async () => {
          const service = replica();
          sent.length = 0;
          await service.issue('node-1');
          await ok(api, 'POST', '/tenants/t1/pools/web/scale', { running: 1 });
          await ok(api, 'PUT', '/tenants/t0/pools/web/config', {
            files: { A: String(sent.length) },
          });
          await service.issue('node-1');
          return new Set(sent);
        };
        const two = await computations();
        await tenants(api, 2, 7, 2);
        const seven = await computations();
        const named = new Set(await session());

        expect([...seven].filter((text) => !named.has(text))).toEqual([]);
        expect([...two].filter((text) => !named.has(text))).toEqual([]);
        // The same texts for seven tenants as for two: no list of ids inlined.
        expect([...seven].sort()).toEqual([...two].sort());
        // Each text prepared once on the session.
        expect((await session()).length).toBe(named.size);
      } finally {
        await store.close();
      }
    },
  );
});
