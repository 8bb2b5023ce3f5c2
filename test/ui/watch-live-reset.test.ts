/**
 * The dashboard's instances page while its watch stays connected and the tombstones it was
 * not yet sent are pruned (issue 17; docs/api.md "Pruning and `reset`"), in real Chromium
 * against a real coordinator on SQLite whose change reads are held at a gate (a replica whose
 * reads stall; test/support/gated-watch-reads.ts). The coordinator answers `reset` and the
 * whole list on the same stream; the page replaces its rows (the deleted ones go), without a
 * reload or a new request, and goes on live.
 */
import { serve, type ServerType } from '@hono/node-server';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { pruneTombstonesOnce } from '../../src/coordinator/tombstone-loop.ts';
import { openStore } from '../../src/db/open-store.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Store } from '../../src/ports/store.ts';
import { coordinatorWorld } from '../support/coordinator-world.ts';
import { gatedWatchReads, type WatchReadGate } from '../support/gated-watch-reads.ts';
import { until } from '../support/until.ts';
import { chromiumGate, launch, logIn, screenshot, watchedPage, type Watched } from './browser.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const ADMIN = 'live-reset-ui-admin-token-0123456789abcdef';
const HOUR = 3_600_000;
const gate = ciSuiteGate('the instances page when pruning passes its live watch', [chromiumGate()]);

const rowsOf = (page: Page, pool: string) =>
  page.locator(`tr[data-instance^="acme/${pool}/"]`).count();

describe.skipIf(!gate.run)('the instances page when pruning passes its live watch', () => {
  let dir: string;
  let store: Store;
  let reads: WatchReadGate;
  let server: ServerType;
  let url: string;
  let api: ApiClient;
  let browser: Browser;
  let w: Watched;
  let watchRequests = 0;

  const pool = async (id: string, running: number) => {
    await api.call('createPool', {
      params: { tenant: 'acme' },
      body: { id, vcpus: 1, memMib: 256 },
    });
    await api.call('scalePool', { params: { tenant: 'acme', pool: id }, body: { running } });
  };
  const destroy = (id: string) =>
    api.call('destroyPool', { params: { tenant: 'acme', pool: id }, query: { force: 'true' } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-uiwatch-live-'));
    store = await openStore(join(dir, 'coordinator.sqlite'));
    const gated = gatedWatchReads(store);
    reads = gated.gate;
    const { app } = await coordinatorWorld(gated.store, { admin: ADMIN });
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    api = createApiClient({ baseUrl: url, token: ADMIN });
    await api.call('createTenant', { body: { id: 'acme', netId: 42 } });
    await pool('keep', 1);
    await pool('gone', 2);
    await pool('last', 1);
    browser = await launch();
    w = await watchedPage(browser, url);
    w.page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/v1/instances/watch') watchRequests += 1;
    });
  }, 120_000);

  afterAll(async () => {
    reads?.open();
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('replaces its rows with the fresh list on the same stream, without a reload', async () => {
    await logIn(w.page, url, ADMIN);
    await w.page.goto(`${url}/ui#/instances?tenant=acme`);
    await expect.poll(() => rowsOf(w.page, 'gone'), { timeout: 15_000 }).toBe(2);
    await w.page.evaluate(() => ((globalThis as { sameDocument?: boolean }).sameDocument = true));
    expect(watchRequests).toBe(1);

    // The watch's next change read waits; meanwhile two pools go and their tombstones are
    // pruned past its cursor (gone's two; last's is the newest and stays).
    reads.close();
    await until('the watch at the gate', () => (reads.waiting() >= 1 ? true : undefined));
    await destroy('gone');
    await destroy('last');
    const { pruned } = await pruneTombstonesOnce({
      store,
      clock: { now: () => new Date(Date.now() + 2 * HOUR) },
      retentionMs: HOUR,
    });
    expect(pruned).toBeGreaterThanOrEqual(2);
    expect(await rowsOf(w.page, 'gone')).toBe(2);
    reads.open();

    await expect.poll(() => rowsOf(w.page, 'gone'), { timeout: 15_000 }).toBe(0);
    expect(await rowsOf(w.page, 'last')).toBe(0);
    expect(await rowsOf(w.page, 'keep')).toBe(1);
    expect(
      await w.page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument),
    ).toBe(true);
    // And it goes on live from there, on the same stream.
    await pool('after', 1);
    await expect.poll(() => rowsOf(w.page, 'after'), { timeout: 10_000 }).toBe(1);
    expect(watchRequests).toBe(1);
    await screenshot(w.page, 'instances-after-live-reset');
  });

  it('logged no console errors and sent no request off the host', () => {
    expect(w.consoleErrors).toEqual([]);
    expect(w.offHost).toEqual([]);
  });
});
