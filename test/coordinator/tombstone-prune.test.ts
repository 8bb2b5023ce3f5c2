/**
 * Instance tombstones pruned past their retention, on SQLite and Postgres: the store prunes
 * the tombstones of instances deleted before a time, keeps the newest one, and moves the
 * horizon up (never down). A watch that resumes from below the horizon gets `reset` and the
 * whole list (without the deleted rows); one from above it still resumes. The CLI's watch
 * client, cut off while that happens, starts over from the fresh list: the deleted rows are
 * handed over as `deleted`, nothing is added twice. The serve option is bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  watchInstances,
  type InstanceChange,
} from '../../src/cli/commands/instance/watch-instances.ts';
import { pruneTombstonesOnce } from '../../src/coordinator/tombstone-loop.ts';
import {
  TOMBSTONE_RETENTION,
  checkTombstoneRetention,
} from '../../src/core/tombstone-retention.ts';
import { openStore } from '../../src/db/open-store.ts';
import { createApiClient, type FetchLike } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Store } from '../../src/ports/store.ts';
import { runIn } from '../cli/support/run-cli.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { serveForSuite } from '../support/served-coordinator.ts';
import { watchEvents, type SeenEvent as Seen } from '../support/watch-events.ts';
import { until } from '../support/until.ts';

const ADMIN = 'tombstone-admin-token-0123456789abcdef';
const HOUR = 3_600_000;
const later = () => new Date(Date.now() + HOUR).toISOString();

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`tombstone pruning [${db.name}]`, () => {
    const served = serveForSuite(db, 'mvm-uiterm-tomb-', ADMIN);
    let store: Store;
    const client = (token = ADMIN, fetch?: FetchLike) =>
      createApiClient({ baseUrl: served.url(), token, ...(fetch ? { fetch } : {}) });

    beforeAll(async () => {
      // The same database, as another process would open it (SQLite in WAL mode).
      store = await openStore(served.databaseUrl());
      const api = client();
      await api.call('createTenant', { body: { id: 'acme', netId: 42 } });
      for (const [pool, running] of [
        ['web', 2],
        ['tmp', 2],
        ['last', 1],
      ] as const) {
        await api.call('createPool', {
          params: { tenant: 'acme' },
          body: { id: pool, vcpus: 1, memMib: 256 },
        });
        await api.call('scalePool', { params: { tenant: 'acme', pool }, body: { running } });
      }
    });
    afterAll(async () => {
      await store?.close();
    });

    const destroy = (pool: string) =>
      client().call('destroyPool', {
        params: { tenant: 'acme', pool },
        query: { force: 'true' },
      });

    /** The events of a watch until `enough` says so; then the stream is closed. */
    const sse = (query: string, enough: (got: Seen[]) => boolean, lastEventId?: string) =>
      watchEvents(`${served.url()}/v1/instances/watch?${query}`, ADMIN, enough, lastEventId);
    const synced = (got: Seen[]) => got.some((e) => e.event === 'synced');

    it('prunes only expired tombstones, keeps the newest, and never lowers the horizon', async () => {
      expect(await store.instances.changeHorizon()).toBe(0);
      // Nothing was deleted yet: nothing to prune.
      expect(await store.instances.pruneTombstones(later(), later())).toEqual({
        pruned: 0,
        horizon: 0,
      });
    });

    it('answers a watch resumed from before the horizon with reset and the whole list', async () => {
      const first = await sse('tenant=acme', synced);
      const lastId = first.at(-1)?.id;
      expect(first.at(-1)?.event).toBe('synced');
      const tmp = first
        .filter((e) => e.data.instance?.poolId === 'tmp')
        .map((e) => e.data.instance?.id);
      expect(tmp.length).toBe(2);
      await destroy('tmp');
      await destroy('last');
      // Not yet expired: a retention reaching back before the deletions prunes nothing.
      expect(
        (await store.instances.pruneTombstones(new Date(Date.now() - HOUR).toISOString(), later()))
          .pruned,
      ).toBe(0);
      // Before pruning, the resume still works and names the deletions.
      const resumed = await sse(
        'tenant=acme',
        (got) => got.filter((e) => e.data.type === 'deleted').length >= 3,
        lastId,
      );
      expect(resumed[0]?.event).toBe('resumed');

      const { pruned, horizon } = await store.instances.pruneTombstones(later(), later());
      // tmp's two go; last's one is the newest tombstone and stays.
      expect(pruned).toBe(2);
      expect(horizon).toBeGreaterThan(Number(lastId));
      expect(await store.instances.changeHorizon()).toBe(horizon);
      // Again: nothing more goes, and the horizon does not move back.
      expect(await store.instances.pruneTombstones(later(), later())).toEqual({
        pruned: 0,
        horizon,
      });

      for (const resume of [
        { query: 'tenant=acme', lastEventId: lastId },
        { query: `tenant=acme&since=${lastId}` },
      ]) {
        const again = await sse(resume.query, synced, resume.lastEventId);
        expect(again[0]).toMatchObject({
          event: 'reset',
          data: { since: Number(lastId), horizon, reason: 'pruned' },
        });
        const listed = again.filter((e) => e.event === 'instance');
        expect(listed.every((e) => e.data.type === 'added')).toBe(true);
        expect(listed.map((e) => e.data.instance?.poolId)).toEqual(['web', 'web']);
        expect(again.at(-1)?.event).toBe('synced');
      }
      // A cursor at or above the horizon still resumes.
      const fresh = await sse('tenant=acme', synced);
      const resumedAgain = await sse('tenant=acme', (got) => got.length >= 1, fresh.at(-1)?.id);
      expect(resumedAgain[0]?.event).toBe('resumed');
      // A cursor this store never gave: reset too, and the list.
      const future = await sse('tenant=acme&since=9007199254740991', synced);
      expect(future[0]).toMatchObject({ event: 'reset', data: { reason: 'unknown' } });
    });

    it("the CLI's watch, cut off meanwhile, starts over from the fresh list", async () => {
      const api = client();
      await api.call('createPool', {
        params: { tenant: 'acme' },
        body: { id: 'gone', vcpus: 1, memMib: 256 },
      });
      await api.call('scalePool', {
        params: { tenant: 'acme', pool: 'gone' },
        body: { running: 2 },
      });
      const open: AbortController[] = [];
      const urls: string[] = [];
      // Reconnections wait at this gate until the pruning is done.
      let opening = Promise.resolve();
      let release = () => {};
      const cutting: FetchLike = async (request) => {
        await opening;
        const cut = new AbortController();
        open.push(cut);
        urls.push(request.url);
        return fetch(
          new Request(request, { signal: AbortSignal.any([request.signal, cut.signal]) }),
        );
      };
      const got: InstanceChange[] = [];
      const stop = new AbortController();
      const done = watchInstances(
        client(ADMIN, cutting),
        { tenant: 'acme' },
        stop.signal,
        (c) => got.push(c),
        { reconnectMs: 300 },
      );
      await until('the list', () => (got.length >= 4 ? true : undefined));
      // Let the list's id land, then cut the stream and prune while it is away.
      await new Promise((r) => setTimeout(r, 200));
      opening = new Promise((r) => (release = r));
      for (const cut of open) cut.abort();
      const opened = open.length;
      await destroy('gone');
      await api.call('createPool', {
        params: { tenant: 'acme' },
        body: { id: 'newest', vcpus: 1, memMib: 256 },
      });
      await api.call('scalePool', {
        params: { tenant: 'acme', pool: 'newest' },
        body: { running: 1 },
      });
      await destroy('newest');
      const result = await pruneTombstonesOnce({
        store,
        clock: { now: () => new Date(Date.now() + 2 * HOUR) },
        retentionMs: HOUR,
      });
      expect(result.pruned).toBeGreaterThanOrEqual(2);
      release();
      await until(
        'the fresh list',
        () => (got.filter((c) => c.type === 'deleted').length >= 2 ? true : undefined),
        15_000,
      );
      stop.abort();
      await done;
      expect(open.length).toBeGreaterThan(opened);
      // It came back from before the horizon: the coordinator answered reset and the list.
      const since = urls.slice(opened).map((u) => Number(new URL(u).searchParams.get('since')));
      expect(since.length).toBeGreaterThan(0);
      expect(since[0]).toBeLessThan(result.horizon);
      const after = got.slice(4);
      // The two instances of `gone` are handed over deleted; nothing is added twice.
      expect(after.filter((c) => c.type === 'deleted').map((c) => c.item.poolId)).toEqual([
        'gone',
        'gone',
      ]);
      expect(after.filter((c) => c.type === 'added')).toEqual([]);
    });

    it('bounds the retention, and serve refuses one out of bounds before starting', async () => {
      for (const bad of ['30s', '31d']) {
        const r = await runIn(['coordinator', 'serve', '--tombstone-retention', bad]);
        expect(r.code, bad).toBe(2);
        expect(r.stderr).toMatch(/tombstone retention must be between 60 s and 30 days/);
        expect(r.stdout).not.toMatch(/listening/);
      }
      expect(checkTombstoneRetention(TOMBSTONE_RETENTION.defaultMs)).toBe(86_400_000);
      expect(() => checkTombstoneRetention(59_000)).toThrow(/between 60 s and 30 days/);
      expect(() => checkTombstoneRetention(31 * 86_400_000)).toThrow(/between/);
    });
  });
}
