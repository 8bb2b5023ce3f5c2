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
      const cutting: FetchLike = (request) => {
        const cut = new AbortController();
        open.push(cut);
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
    });

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
