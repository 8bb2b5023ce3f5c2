/**
 * The dashboard's files and its session route, over the coordinator's app: every answer
 * carries the CSP that forbids inline script and other origins; only named asset files are
 * served (no path escapes the static folder); /ui/session tells the admin from a tenant and
 * refuses a missing or unknown token; the config carries the stale-after time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordinatorApp } from '../../src/coordinator/app.ts';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { coordinatorWorld } from '../support/coordinator-world.ts';

const ADMIN = 'dashboard-routes-admin-0123456789abcdef';

describe('dashboard routes', () => {
  let dir: string;
  let store: Store;
  let app: CoordinatorApp['app'];
  let tenantToken: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-ui-routes-'));
    store = await openStore(join(dir, 'c.sqlite'));
    app = (
      await coordinatorWorld(store, {
        admin: ADMIN,
        randomSuffix: () => 'x',
        nodeLostAfterMs: 12_000,
      })
    ).app;
    const auth = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    await app.request('/v1/tenants', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ id: 'acme', netId: 7 }),
    });
    const issued = await app.request('/v1/tenants/acme/tokens', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'ui' }),
    });
    tenantToken = ((await issued.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the page and its modules with a CSP that forbids inline script and other hosts', async () => {
    for (const path of ['/ui', '/ui/', '/ui/assets/app.mjs', '/ui/assets/pages/instances.mjs']) {
      const response = await app.request(path);
      expect(response.status, path).toBe(200);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const html = await (await app.request('/ui')).text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/https?:\/\//);
    const parser = await app.request('/ui/vendor/eventsource-parser.mjs');
    expect(parser.headers.get('content-type')).toContain('text/javascript');
    expect(await parser.text()).not.toContain('sourceMappingURL');
  });

  it('serves no file outside its static folder and no unnamed one', async () => {
    for (const path of [
      '/ui/assets/../dashboard-routes.ts',
      '/ui/assets/%2e%2e/dashboard-routes.ts',
      '/ui/assets/..%2fdashboard-routes.ts',
      '/ui/assets/index.html',
      '/ui/assets/missing.mjs',
      '/ui/assets/a/b/c.mjs',
    ]) {
      expect((await app.request(path)).status, path).toBe(404);
    }
  });

  it('tells the admin from a tenant and refuses a missing or unknown token', async () => {
    const as = (token?: string) =>
      app.request('/ui/session', token ? { headers: { authorization: `Bearer ${token}` } } : {});
    expect(await (await as(ADMIN)).json()).toEqual({ admin: true });
    expect(await (await as(tenantToken)).json()).toEqual({ admin: false, tenant: 'acme' });
    expect((await as()).status).toBe(401);
    expect((await as('not-a-token-0123456789abcdef')).status).toBe(401);
  });

  it('gives the pages the time after which a silent node is stale', async () => {
    expect(await (await app.request('/ui/config.json')).json()).toEqual({ staleAfterMs: 12_000 });
  });
});
