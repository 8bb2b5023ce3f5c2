/**
 * `mvm instance list --watch` over HTTP on SQLite and Postgres: the stream starts with the list,
 * then each change as the store shows it (a second coordinator on the same database writes
 * some, as another replica would); a tenant's token sees only its own; a watcher whose stream
 * breaks reconnects and hands over only what changed meanwhile, deletions included.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  watchInstances,
  type InstanceChange,
} from '../../src/cli/commands/instance/watch-instances.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { createApiClient, type FetchLike } from '../../src/drivers/coordinator-api/api-client.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { until } from '../support/until.ts';
import { watchEvents, type SeenEvent as Seen } from '../support/watch-events.ts';

const ADMIN = 'watch-admin-token-0123456789abcdef';
const line = (c: InstanceChange) => `${c.type} ${c.key} ${c.item.desiredStatus}`;

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`instance list --watch [${db.name}]`, () => {
    let dirs: string[] = [];
    let database: Awaited<ReturnType<typeof db.open>>;
    let one: RunningCoordinator;
    let two: RunningCoordinator;
    let tenantToken: string;
    const client = (c: RunningCoordinator, token = ADMIN, fetch?: FetchLike) =>
      createApiClient({ baseUrl: c.url, token, ...(fetch ? { fetch } : {}) });

    async function start(): Promise<RunningCoordinator> {
      const dir = await mkdtemp(join(tmpdir(), 'mvm-watch-'));
      dirs.push(dir);
      return serveCoordinator(
        {
          listen: '127.0.0.1:0',
          databaseUrl: database.url,
          clusterCidr: '10.240.0.0/12',
          adminToken: ADMIN,
          dataDir: dir,
        },
        { logger: pino({ level: 'silent' }) },
      );
    }

    beforeAll(async () => {
      database = await db.open();
      one = await start();
      // Another replica on Postgres; SQLite has one coordinator per database.
      two = db.name === 'postgres' ? await start() : one;
      const api = client(one);
      for (const [tenant, netId] of [
        ['acme', 42],
        ['other', 43],
      ] as const) {
        await api.call('createTenant', { body: { id: tenant, netId } });
        await api.call('createPool', {
          params: { tenant },
          body: { id: 'web', vcpus: 1, memMib: 256 },
        });
        await api.call('scalePool', { params: { tenant, pool: 'web' }, body: { running: 2 } });
      }
      tenantToken = (
        await api.call('createToken', { params: { tenant: 'acme' }, body: { name: 'w' } })
      ).token;
    });
    afterAll(async () => {
      await one?.close();
      if (two !== one) await two?.close();
      await database?.cleanup();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
      dirs = [];
    });

    function watch(api: ReturnType<typeof client>, query = {}) {
      const got: InstanceChange[] = [];
      const stop = new AbortController();
      const done = watchInstances(api, query, stop.signal, (c) => got.push(c), {
        reconnectMs: 100,
      });
      return { got, stop: async () => (stop.abort(), await done) };
    }

    it('streams the list, then changes written through another replica', async () => {
      const all = watch(client(one));
      const own = watch(client(one, tenantToken));
      await until('the lists', () => (all.got.length >= 4 && own.got.length >= 2) || undefined);
      expect(all.got.map((c) => c.type)).toEqual(['added', 'added', 'added', 'added']);
      expect(own.got.every((c) => c.item.tenantId === 'acme')).toBe(true);
      const other = client(two);
      const [first] = await other.call('listInstances', { query: { tenant: 'acme' } });
      if (first === undefined) throw new Error('no instance');
      const path = { tenant: 'acme', pool: 'web', instance: first.id };
      await other.call('instanceAction', { params: path, body: { action: 'sleep' } });
      await other.call('scalePool', {
        params: { tenant: 'other', pool: 'web' },
        body: { running: 3 },
      });
      await until('the changes', () => (all.got.length >= 6 && own.got.length >= 3) || undefined);
      await all.stop();
      await own.stop();
      expect(all.got.slice(4).map((c) => [c.type, c.item.tenantId])).toEqual(
        expect.arrayContaining([
          ['modified', 'acme'],
          ['added', 'other'],
        ]),
      );
      expect(own.got.slice(2).map(line)).toEqual([`modified acme/web/${first.id} sleeping`]);
    });

    it('reconnects after a break and hands over only what changed meanwhile', async () => {
      // A fetch whose streams the test can cut, as a proxy or a restart would.
      const open: AbortController[] = [];
      const urls: string[] = [];
      const cutting: FetchLike = (request) => {
        const cut = new AbortController();
        open.push(cut);
        urls.push(request.url);
        return fetch(
          new Request(request, { signal: AbortSignal.any([request.signal, cut.signal]) }),
        );
      };
      const w = watch(client(one, ADMIN, cutting), { tenant: 'other' });
      await until('the list', () => (w.got.length >= 3 ? true : undefined));
      const before = w.got.length;
      for (const cut of open) cut.abort();
      const api = client(two);
      await api.call('scalePool', {
        params: { tenant: 'other', pool: 'web' },
        body: { running: 1 },
      });
      await until(
        'the changes after reconnecting',
        () => w.got.slice(before).filter((c) => c.type !== 'added').length >= 2 || undefined,
      );
      await w.stop();
      const after = w.got.slice(before);
      // Nothing handed over twice: no instance is "added" again on reconnecting.
      expect(after.filter((c) => c.type === 'added')).toEqual([]);
      expect(open.length).toBeGreaterThan(1);
      // The first opening asks for the list, the next ones resume from the last batch's id.
      expect(urls[0]).not.toMatch(/since=/);
      expect(urls.slice(1).every((u) => /[?&]since=\d+/.test(u))).toBe(true);
    });

    it('resumes from the last event id with only what changed, deletions too', async () => {
      const api = client(one);
      await api.call('createPool', {
        params: { tenant: 'acme' },
        body: { id: 'tmp', vcpus: 1, memMib: 256 },
      });
      await api.call('scalePool', {
        params: { tenant: 'acme', pool: 'tmp' },
        body: { running: 1 },
      });
      const first = await sse(`${one.url}/v1/instances/watch?tenant=acme`, (got) =>
        got.some((e) => e.event === 'synced'),
      );
      const listed = first.filter((e) => e.event === 'instance');
      expect(listed.length).toBeGreaterThanOrEqual(3);
      const lastId = first.at(-1)?.id;
      expect(first.at(-1)?.event).toBe('synced');
      expect(lastId).toMatch(/^\d+$/);
      const tmp = listed.map((e) => e.data.instance).find((i) => i?.poolId === 'tmp');
      // Written through the other replica while nobody watches.
      const other = client(two);
      const { created, changed } = await other.call('scalePool', {
        params: { tenant: 'acme', pool: 'web' },
        body: { running: 3 },
      });
      await other.call('destroyPool', {
        params: { tenant: 'acme', pool: 'tmp' },
        query: { force: 'true' },
      });
      const wanted = (got: Seen[]) =>
        got.some((e) => e.data.type === 'deleted') && got.some((e) => e.data.type === 'added');
      for (const resume of [
        { url: `${one.url}/v1/instances/watch?tenant=acme`, lastEventId: lastId },
        { url: `${one.url}/v1/instances/watch?tenant=acme&since=${lastId}` },
      ]) {
        const again = await sse(resume.url, wanted, resume.lastEventId);
        expect(again[0]?.event).toBe('resumed');
        expect(again.some((e) => e.event === 'synced')).toBe(false);
        const changes = again.filter((e) => e.event === 'instance');
        // Not the list again: only the web instances the scale wrote and the deleted tmp one
        // (a resumed stream says `added` for a row the client may not have).
        const scaled = [...created, ...changed].map((i) => `added ${i.id}`);
        expect(scaled.length).toBeGreaterThan(0);
        expect(changes.map((e) => `${e.data.type} ${e.data.instance?.id}`).sort()).toEqual(
          [...scaled, `deleted ${tmp?.id}`].sort(),
        );
        expect(changes.at(-1)?.id).toMatch(/^\d+$/);
      }
      // A cursor this store never gave starts over with the list.
      const future = await sse(
        `${one.url}/v1/instances/watch?tenant=acme&since=9007199254740991`,
        (got) => got.some((e) => e.event === 'synced'),
      );
      expect(future.filter((e) => e.event === 'instance').length).toBeGreaterThanOrEqual(3);
      const bad = await fetch(`${one.url}/v1/instances/watch?since=-1`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(bad.status).toBe(400);
    });

    /** The events of a watch until `enough` says so; then the stream is closed. */
    const sse = (url: string, enough: (got: Seen[]) => boolean, lastEventId?: string) =>
      watchEvents(url, ADMIN, enough, lastEventId);

    it('answers a bad filter with a 400 and another tenant with its 404', async () => {
      const bad = await fetch(`${one.url}/v1/instances/watch?status=bogus`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(bad.status).toBe(400);
      const foreign = await fetch(`${one.url}/v1/instances/watch?tenant=other`, {
        headers: { authorization: `Bearer ${tenantToken}` },
      });
      expect(foreign.status).toBe(404);
      await expect(
        watchInstances(client(one), { tenant: 'nope' }, new AbortController().signal, () => {}),
      ).rejects.toThrow(/nope/);
    });
  });
}
