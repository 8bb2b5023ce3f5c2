/**
 * The dashboard's instances watch across a break, in real Chromium against a real coordinator
 * (SQLite; test/support/exec-world.ts). When the coordinator restarts, the page reconnects
 * with the id of the last batch it saw (`Last-Event-ID`) and gets only what changed, without a
 * reload; when the coordinator pruned the deletions since that id while the page was away, it
 * answers `reset` and the whole list, and the page drops the rows deleted meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { databases } from '../support/databases.ts';
import { ADMIN, startExecWorld, type ExecWorld } from '../support/exec-world.ts';
import { chromiumGate, launch, logIn, screenshot, watchedPage, type Watched } from './browser.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('the dashboard instances watch across a break', [chromiumGate()]);
const sqlite = databases.find((d) => d.name === 'sqlite');

const rowsOf = (page: Page, pool: string) =>
  page.locator(`tr[data-instance^="acme/${pool}/"]`).count();

describe.skipIf(!gate.run)('the dashboard instances watch across a break', () => {
  let database: Awaited<ReturnType<NonNullable<typeof sqlite>['open']>>;
  let world: ExecWorld;
  let browser: Browser;
  let store: Store;
  let w: Watched;
  /** The Last-Event-ID of each watch request the page made. */
  const watches: Array<string | undefined> = [];

  beforeAll(async () => {
    if (!sqlite) throw new Error('no sqlite test database kind');
    database = await sqlite.open();
    world = await startExecWorld(database.url);
    store = await openStore(database.url);
    browser = await launch();
    w = await watchedPage(browser, world.url);
    w.page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/v1/instances/watch')
        watches.push(r.headers()['last-event-id']);
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await store?.close();
    await world?.close();
    await database?.cleanup();
  });

  const pool = async (id: string, running: number) => {
    await world.api.call('createPool', {
      params: { tenant: 'acme' },
      body: { id, vcpus: 1, memMib: 256 },
    });
    await world.api.call('scalePool', { params: { tenant: 'acme', pool: id }, body: { running } });
  };
  const destroy = (id: string) =>
    world.api.call('destroyPool', {
      params: { tenant: 'acme', pool: id },
      query: { force: 'true' },
    });
  const sameDocument = () =>
    w.page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument);

  it('resumes with Last-Event-ID after a restart: only the changes, no reload', async () => {
    await logIn(w.page, world.url, ADMIN);
    await w.page.goto(`${world.url}/ui#/instances?tenant=acme`);
    await expect.poll(() => rowsOf(w.page, 'web'), { timeout: 15_000 }).toBe(1);
    await w.page.evaluate(() => ((globalThis as { sameDocument?: boolean }).sameDocument = true));
    expect(watches).toEqual([undefined]);
    await world.restartCoordinator();
    await expect.poll(() => watches.length, { timeout: 20_000 }).toBeGreaterThan(1);
    expect(watches.at(-1)).toMatch(/^\d+$/);
    await pool('more', 2);
    await expect.poll(() => rowsOf(w.page, 'more'), { timeout: 10_000 }).toBe(2);
    expect(await rowsOf(w.page, 'web')).toBe(1);
    expect(await sameDocument()).toBe(true);
  });

  it('starts over from the fresh list when the deletions it missed were pruned', async () => {
    // Reconnections wait while the page is away.
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    await w.context.route('**/v1/instances/watch*', async (route) => {
      await held;
      await route.continue();
    });
    const before = watches.length;
    await world.restartCoordinator();
    await expect.poll(() => watches.length, { timeout: 20_000 }).toBeGreaterThan(before);
    const resumedFrom = Number(watches.at(-1));
    // Meanwhile: `more` is deleted, then another pool's instance (the newest tombstone stays),
    // and the tombstones are pruned past the page's cursor.
    await destroy('more');
    await pool('brief', 1);
    await destroy('brief');
    const { pruned, horizon } = await store.instances.pruneTombstones(
      new Date(Date.now() + 3_600_000).toISOString(),
      new Date().toISOString(),
    );
    expect(pruned).toBeGreaterThanOrEqual(2);
    expect(resumedFrom).toBeLessThan(horizon);
    // The page still shows what it had, and then the fresh list without the deleted rows.
    expect(await rowsOf(w.page, 'more')).toBe(2);
    release();
    await expect.poll(() => rowsOf(w.page, 'more'), { timeout: 10_000 }).toBe(0);
    expect(await rowsOf(w.page, 'web')).toBe(1);
    expect(await sameDocument()).toBe(true);
    await w.context.unroute('**/v1/instances/watch*');
    // And it goes on live from there.
    await pool('after', 1);
    await expect.poll(() => rowsOf(w.page, 'after'), { timeout: 10_000 }).toBe(1);
    await screenshot(w.page, 'instances-after-reset');
  });

  it('logged no console errors and sent no request off the host', () => {
    // A restart cuts the stream (Chromium may say so); nothing else may be an error.
    expect(w.consoleErrors.filter((e) => !/ERR_|network|Failed to fetch/i.test(e))).toEqual([]);
    expect(w.offHost).toEqual([]);
  });
});
