/**
 * A watch that stays connected while tombstones it was not yet sent are pruned, on SQLite and
 * Postgres (issue 17; docs/api.md "Pruning and `reset`"). Its change reads are held at a gate
 * (a replica whose reads stall, test/support/gated-watch-reads.ts) while two pools are
 * destroyed and the tombstones are pruned past its cursor with a clock two hours ahead (a
 * replica's clock running ahead of the one that deleted). Once let through, the stream says
 * `reset` and sends the whole list without the deleted rows, on the same connection, and goes
 * on live; the CLI's watch client, on that stream, hands the deleted rows over as `deleted`
 * and adds nothing twice. A prune that passes nothing unread resets nothing. On Postgres a
 * transaction still running holds the horizon below its id, so its deletions are never pruned
 * unread.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  watchInstances,
  type InstanceChange,
} from '../../src/cli/commands/instance/watch-instances.ts';
import { pruneTombstonesOnce } from '../../src/coordinator/tombstone-loop.ts';
import { openStore } from '../../src/db/open-store.ts';
import { createApiClient, type FetchLike } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Store } from '../../src/ports/store.ts';
import { coordinatorWorld } from '../support/coordinator-world.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { gatedWatchReads, type WatchReadGate } from '../support/gated-watch-reads.ts';
import { until } from '../support/until.ts';
import { recordEvents, type SeenEvent as Seen } from '../support/watch-events.ts';

const ADMIN = 'live-reset-admin-token-0123456789abcdef';
const BASE = 'http://coordinator.test';
const HOUR = 3_600_000;

const ahead = () => ({ now: () => new Date(Date.now() + 2 * HOUR) });

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`a connected watch and pruning [${db.name}]`, () => {
    let database: Awaited<ReturnType<typeof db.open>>;
    let store: Store;
    let gate: WatchReadGate;
    let fetchApp: FetchLike;
    const stop = new AbortController();
    /** Every event of one raw watch stream, as it comes. */
    const raw: Seen[] = [];
    let rawDone: Promise<void> | undefined;
    /** What the CLI's watch client handed over, and how often it opened a stream. */
    const cli: InstanceChange[] = [];
    let cliOpens = 0;
    let cliDone: Promise<void> | undefined;
    const api = () => createApiClient({ baseUrl: BASE, token: ADMIN, fetch: fetchApp });

    const pool = async (id: string, running: number) => {
      await api().call('createPool', {
        params: { tenant: 'acme' },
        body: { id, vcpus: 1, memMib: 256 },
      });
      await api().call('scalePool', { params: { tenant: 'acme', pool: id }, body: { running } });
    };
    const destroy = (id: string) =>
      api().call('destroyPool', { params: { tenant: 'acme', pool: id }, query: { force: 'true' } });
    const rawAfter = (n: number) => raw.slice(n);
    const poolsOf = (seen: Seen[], type: string) =>
      seen
        .filter((e) => e.event === 'instance' && e.data.type === type)
        .map((e) => e.data.instance?.poolId);

    beforeAll(async () => {
      database = await db.open();
      store = await openStore(database.url);
      const gated = gatedWatchReads(store);
      gate = gated.gate;
      fetchApp = (await coordinatorWorld(gated.store, { admin: ADMIN })).fetch;
      await api().call('createTenant', { body: { id: 'acme', netId: 42 } });
      await pool('keep', 1);
      await pool('early', 1);
      await pool('gone', 2);
      await pool('last', 1);

      const response = await fetchApp(
        new Request(`${BASE}/v1/instances/watch?tenant=acme`, {
          headers: { authorization: `Bearer ${ADMIN}` },
          signal: stop.signal,
        }),
      );
      expect(response.status).toBe(200);
      rawDone = recordEvents(response, stop.signal, raw).catch(() => undefined);
      const counting: FetchLike = (request) => {
        cliOpens += 1;
        return fetchApp(request);
      };
      cliDone = watchInstances(
        createApiClient({ baseUrl: BASE, token: ADMIN, fetch: counting }),
        { tenant: 'acme' },
        stop.signal,
        (c) => cli.push(c),
        { reconnectMs: 300 },
      );
      await until('the lists', () =>
        raw.some((e) => e.event === 'synced') && cli.length >= 5 ? true : undefined,
      );
    });
    afterAll(async () => {
      gate?.open();
      stop.abort();
      await rawDone;
      await cliDone?.catch(() => undefined);
      await store?.close();
      await database?.cleanup();
    });

    it('resets nothing when a prune passes no tombstone the watch has not read', async () => {
      const mark = raw.length;
      const cliMark = cli.length;
      await destroy('early');
      await until('the deletion', () =>
        poolsOf(rawAfter(mark), 'deleted').length ? true : undefined,
      );
      await until('the CLI deletion', () => (cli.length > cliMark ? true : undefined));
      // Once the watch has looked at the horizon since it read the deletion (every 2 s), the
      // prune removes nothing it has not read.
      await new Promise((r) => setTimeout(r, 2_500));
      const { horizon } = await pruneTombstonesOnce({ store, clock: ahead(), retentionMs: HOUR });
      expect(horizon).toBeGreaterThan(0);
      // Longer than the watch's look at the horizon (2 s), then a change: no reset before it.
      await new Promise((r) => setTimeout(r, 2_500));
      await api().call('scalePool', {
        params: { tenant: 'acme', pool: 'keep' },
        body: { running: 2 },
      });
      await until('the scale', () =>
        poolsOf(rawAfter(mark), 'added').length &&
        cli.slice(cliMark).some((c) => c.type === 'added')
          ? true
          : undefined,
      );
      expect(rawAfter(mark).map((e) => e.event)).not.toContain('reset');
      expect(cli.slice(cliMark).map((c) => `${c.type} ${c.item.poolId}`)).toEqual(
        expect.arrayContaining(['deleted early', 'added keep']),
      );
    });

    it('sends reset and the fresh list on the same connection when the horizon passes its cursor', async () => {
      const mark = raw.length;
      const cliMark = cli.length;
      const lastId = Number(raw.filter((e) => e.id !== undefined).at(-1)?.id);
      // Both streams' next change reads wait (the one in flight, if any, has ended).
      gate.close();
      await until('both watches at the gate', () => (gate.waiting() >= 2 ? true : undefined));
      await destroy('gone');
      await destroy('last');
      const { pruned, horizon } = await pruneTombstonesOnce({
        store,
        clock: ahead(),
        retentionMs: HOUR,
      });
      // gone's two go; last's is the newest and stays.
      expect(pruned).toBeGreaterThanOrEqual(2);
      expect(horizon).toBeGreaterThan(lastId);
      gate.open();

      const synced = await until(
        'the fresh list',
        () => {
          const after = rawAfter(mark);
          const reset = after.findIndex((e) => e.event === 'reset');
          const done = after.findIndex((e, i) => i > reset && e.event === 'synced');
          return reset >= 0 && done > reset ? { after, reset, done } : undefined;
        },
        20_000,
      );
      const resetEvent = synced.after[synced.reset];
      expect(resetEvent?.data).toMatchObject({ horizon, reason: 'pruned' });
      expect(resetEvent?.data.since).toBeGreaterThan(0);
      expect(resetEvent?.data.since).toBeLessThan(horizon);
      const list = synced.after.slice(synced.reset + 1, synced.done);
      expect(list.every((e) => e.data.type === 'added')).toBe(true);
      expect(list.map((e) => e.data.instance?.poolId)).toEqual(['keep', 'keep']);
      expect(synced.after[synced.done]?.id).toMatch(/^\d+$/);

      // The CLI's client took the list on the same stream: the deleted rows handed over as
      // deleted (gone's included, whose tombstones it never got), nothing added twice.
      await until('the CLI deletions', () =>
        cli.slice(cliMark).filter((c) => c.type === 'deleted').length >= 3 ? true : undefined,
      );
      const handed = cli.slice(cliMark);
      expect(handed.map((c) => `${c.type} ${c.item.poolId}`).sort()).toEqual([
        'deleted gone',
        'deleted gone',
        'deleted last',
      ]);
      expect(cliOpens).toBe(1);

      // And both go on live from there.
      await pool('after', 1);
      await until('the live change', () =>
        poolsOf(rawAfter(mark + synced.done), 'added').includes('after') &&
        cli.some((c) => c.type === 'added' && c.item.poolId === 'after')
          ? true
          : undefined,
      );
      expect(cliOpens).toBe(1);
    });

    it.skipIf(db.name !== 'postgres')(
      'keeps the horizon below a transaction still running (Postgres)',
      async () => {
        await pool('slow', 1);
        await pool('fast', 1);
        const held = new pg.Client({ connectionString: database.url });
        await held.connect();
        try {
          await held.query('BEGIN');
          const { rows } = await held.query<{ x: string }>(
            'SELECT pg_current_xact_id()::text AS x',
          );
          const xid = Number(rows[0]?.x);
          await destroy('slow');
          await destroy('fast');
          const before = await pruneTombstonesOnce({ store, clock: ahead(), retentionMs: HOUR });
          // Nothing at or above the running transaction's id is pruned.
          expect(before.horizon).toBeLessThanOrEqual(xid);
          const kept = await held.query<{ n: string }>(
            "SELECT COUNT(*)::text AS n FROM instance_tombstones WHERE pool_id IN ('slow', 'fast')",
          );
          expect(Number(kept.rows[0]?.n)).toBe(2);
        } finally {
          await held.query('COMMIT');
          await held.end();
        }
        const after = await pruneTombstonesOnce({ store, clock: ahead(), retentionMs: HOUR });
        expect(after.pruned).toBeGreaterThanOrEqual(1);
      },
    );
  });
}
