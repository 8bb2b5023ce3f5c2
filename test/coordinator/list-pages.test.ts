/**
 * Pages over HTTP on SQLite and Postgres: every list route answers `{items, nextCursor}` when
 * asked with limit or cursor, in a stable key order; following the cursors while rows are
 * inserted between pages never shows a row twice nor skips one that existed before; a tenant's
 * token pages only its own rows; bad cursors and limits are a 400 that changes nothing; a
 * request with neither still gets the whole list as a bare array (older clients).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../src/core/page-cursor.ts';
import { listAll } from '../../src/drivers/coordinator-api/pages.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { serveForSuite } from '../support/served-coordinator.ts';

const ADMIN = 'pages-admin-token-0123456789abcdef';
const keyOf = (i: { tenantId: string; poolId: string; id: string }) =>
  `${i.tenantId}/${i.poolId}/${i.id}`;

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`list pages [${db.name}]`, () => {
    const served = serveForSuite(db, 'mvm-pages-', ADMIN);
    let tenantToken: string;
    const admin = () => served.client();
    const raw = (path: string, token = ADMIN) =>
      fetch(`${served.url()}/v1${path}`, { headers: { authorization: `Bearer ${token}` } });

    beforeAll(async () => {
      const api = admin();
      for (const [tenant, netId] of [
        ['acme', 42],
        ['other', 43],
      ] as const) {
        await api.call('createTenant', { body: { id: tenant, netId } });
        for (const pool of ['db', 'web']) {
          await api.call('createPool', {
            params: { tenant },
            body: { id: pool, vcpus: 1, memMib: 256 },
          });
          await api.call('scalePool', { params: { tenant, pool }, body: { running: 4 } });
        }
      }
      tenantToken = (
        await api.call('createToken', { params: { tenant: 'acme' }, body: { name: 'pages' } })
      ).token;
    });

    it('follows instance pages in key order while rows are inserted between them', async () => {
      const api = admin();
      const before = (await api.call('listInstances', {})).map(keyOf);
      expect(before).toHaveLength(16);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await api.page('listInstances', {
          query: { limit: 3, ...(cursor ? { cursor } : {}) },
        });
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map(keyOf));
        cursor = page.nextCursor ?? undefined;
        pages += 1;
        // Inserts on both sides of the cursor between pages.
        if (pages === 2) {
          await api.call('scalePool', {
            params: { tenant: 'acme', pool: 'db' },
            body: { running: 6 },
          });
          await api.call('scalePool', {
            params: { tenant: 'other', pool: 'web' },
            body: { running: 6 },
          });
        }
      } while (cursor !== undefined);
      expect(new Set(seen).size).toBe(seen.length);
      for (const key of before) expect(seen).toContain(key);
      expect(seen).toEqual([...seen].sort());
      // Two pages in, the cursor is past acme/db: its new rows are behind it, other/web ahead.
      expect(seen.filter((k) => k.startsWith('other/web/'))).toHaveLength(6);
      expect(seen.length).toBe(16 + 2);
    });

    it("pages a tenant token's own rows only, and filters on the server", async () => {
      const own = served.client(tenantToken);
      const items = await listAll(own, 'listInstances', {}, 2);
      expect(items.length).toBeGreaterThan(0);
      expect(new Set(items.map((i) => i.tenantId))).toEqual(new Set(['acme']));
      const first = await own.page('listInstances', { query: { limit: 1 } });
      // A cursor naming another tenant's key still shows only the caller's rows.
      const foreign = encodeCursor(['aaa', 'db', 'x']);
      const after = await own.page('listInstances', { query: { limit: 100, cursor: foreign } });
      expect(after.items.map((i) => i.tenantId)).toEqual(items.map(() => 'acme'));
      expect(first.items[0]?.tenantId).toBe('acme');
      const web = await listAll(admin(), 'listInstances', { query: { pool: 'web' } }, 2);
      expect(new Set(web.map((i) => i.poolId))).toEqual(new Set(['web']));
      const pending = await admin().page('listInstances', {
        query: { status: 'destroyed', limit: 5 },
      });
      expect(pending).toEqual({ items: [], nextCursor: null });
      const tenants = await listAll(own, 'listTenants', {}, 1);
      expect(tenants.map((t) => t.id)).toEqual(['acme']);
    });

    it('pages every small list and events, jobs and tokens, without repeats', async () => {
      const api = admin();
      const tenants = await listAll(api, 'listTenants', {}, 1);
      expect(tenants.map((t) => t.id)).toEqual(['acme', 'other']);
      const pools = await listAll(api, 'listPools', { params: { tenant: 'acme' } }, 1);
      expect(pools.map((p) => p.id)).toEqual(['db', 'web']);
      const events = await listAll(api, 'listEvents', {}, 2);
      const ids = events.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((a, b) => b - a));
      expect(new Set(ids).size).toBe(ids.length);
      const legacy = await api.call('listEvents', { query: { last: 10_000 } });
      expect(ids).toEqual(legacy.map((e) => e.id));
      const tokens = await listAll(api, 'listAllTokens', {}, 1);
      expect(tokens.map((t) => t.name)).toContain('pages');
      const nodes = await api.page('listNodes', { query: { limit: 5 } });
      expect(nodes).toEqual({ items: [], nextCursor: null });
      const jobs = await api.page('listJobs', { params: { tenant: 'acme' }, query: { limit: 5 } });
      expect(jobs).toEqual({ items: [], nextCursor: null });
    });

    it('answers a bad cursor or limit with a 400 that names it, and changes nothing', async () => {
      const before = await (await raw('/instances')).text();
      for (const query of [
        'limit=0',
        'limit=1001',
        'limit=x',
        'cursor=',
        'cursor=!!',
        `cursor=${'A'.repeat(600)}`,
        `cursor=${encodeCursor(['acme', 'db'])}`,
        `cursor=${Buffer.from('{"a":1}').toString('base64url')}`,
        'cursor=bm90IGpzb24',
      ]) {
        const response = await raw(`/instances?${query}`);
        expect(response.status, query).toBe(400);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('invalid_argument');
        expect(body.error.message).toMatch(/cursor|limit/);
      }
      expect((await raw(`/events?cursor=${encodeCursor(['12x'])}`)).status).toBe(400);
      expect((await raw(`/tenants?cursor=${encodeCursor(['a', 'b'])}`)).status).toBe(400);
      expect(await (await raw('/instances')).text()).toBe(before);
    });

    it('still answers a request without limit or cursor with the whole list', async () => {
      const response = await raw('/instances');
      const body = (await response.json()) as unknown[];
      expect(Array.isArray(body)).toBe(true);
      expect(body.length).toBe(20);
      const tenants = (await (await raw('/tenants')).json()) as unknown[];
      expect(tenants).toHaveLength(2);
    });
  });
}
