/**
 * The web dashboard (/ui) in real Chromium against a real coordinator (SQLite), seeded through
 * the API: every page shows the seeded counts exactly; a CLI `instance sleep` appears without
 * a reload within 2 s (pushed over the audit stream), and so does a status an agent reports
 * (pushed by the instances watch); a node that stops heartbeating shows its
 * instances stale, never running; a tenant's token sees its tenant only; axe finds no serious
 * violations; no console errors and no request leaves the host. A screenshot of every page
 * lands in test-results/ui/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { runCli } from '../../src/cli/main.ts';
import { filesReader } from '../cli/support/run-cli.ts';
import {
  ADMIN,
  STALE_AFTER_MS,
  startDashboardFleet,
  type DashboardFleet,
} from './dashboard-fleet.ts';
import {
  chromiumGate,
  launch,
  logIn,
  screenshot,
  seriousViolations,
  watchedPage,
  type Watched,
} from './browser.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('dashboard in Chromium', [chromiumGate()]);

const count = (page: Page, name: string) =>
  page.locator(`[data-count="${name}"] strong`).textContent();

describe.skipIf(!gate.run)('dashboard in Chromium', () => {
  let fleet: DashboardFleet;
  let browser: Browser;
  let admin: Watched;
  const audited: Watched[] = [];

  beforeAll(async () => {
    fleet = await startDashboardFleet();
    browser = await launch();
    admin = await watchedPage(browser, fleet.url);
    audited.push(admin);
    await admin.page.goto(`${fleet.url}/ui`);
    await admin.page.getByLabel('API token').waitFor();
    expect(await seriousViolations(admin.page), 'axe on the login form').toEqual([]);
    await screenshot(admin.page, 'login');
    await logIn(admin.page, fleet.url, ADMIN);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await fleet?.close();
  });

  async function visit(w: Watched, hash: string, name: string, ready: string) {
    await w.page.goto(`${fleet.url}/ui#/${hash}`);
    await w.page
      .locator(ready)
      .first()
      .waitFor({ timeout: 10_000 })
      .catch(async (error: unknown) => {
        const shown = await w.page.locator('main').textContent();
        throw new Error(`${name}: ${ready} never showed; the page says: ${shown}`, {
          cause: error,
        });
      });
    expect(await seriousViolations(w.page), `axe on ${name}`).toEqual([]);
    await screenshot(w.page, name);
  }

  it('shows the fleet: both nodes, every instance and tenant, with allocation', async () => {
    const { page } = admin;
    await visit(admin, '', 'fleet', '[data-node="node-a"]');
    expect(await count(page, 'nodes')).toBe('2');
    expect(await count(page, 'instances')).toBe('5');
    expect(await count(page, 'tenants')).toBe('2');
    expect(await count(page, 'stale-nodes')).toBe('0');
    // Allocation from the coordinator's own gauges: 1 vCPU per acme/web, 2 per beta/api.
    const allocated = await page.locator('[data-node] td:nth-child(5)').allTextContents();
    expect(allocated.map(Number).reduce((a, b) => a + b, 0)).toBe(3 * 1 + 2 * 2);
  });

  it('shows tenants and pools with desired against actual and their revision', async () => {
    const { page } = admin;
    await visit(admin, 'tenants', 'tenants', '[data-tenant="acme"]');
    expect(await count(page, 'tenants')).toBe('2');
    expect(await page.locator('[data-tenant="acme"] td:nth-child(5)').textContent()).toBe('3');
    await visit(admin, 'pools', 'pools', '[data-pool="acme/web"]');
    expect(await count(page, 'pools')).toBe('2');
    const running = (pool: string) =>
      page.locator(`[data-pool="${pool}"] [data-slot="running"]`).textContent();
    expect(await running('acme/web')).toBe('3 / 3');
    expect(await running('beta/api')).toBe('2 / 2');
  });

  it('scales a pool from the page', async () => {
    const { page } = admin;
    await page.goto(`${fleet.url}/ui#/pools`);
    await page.getByLabel('acme/web desired running').fill('4');
    await page.getByRole('button', { name: 'scale acme/web' }).click();
    await expect
      .poll(() => page.locator('[data-pool="acme/web"] [data-slot="running"]').textContent())
      .toBe('4 / 3');
    const pool = await fleet.admin.call('getPool', { params: { tenant: 'acme', pool: 'web' } });
    expect(pool.counts.running).toBe(4);
    await fleet.admin.call('scalePool', {
      params: { tenant: 'acme', pool: 'web' },
      body: { running: 3 },
    });
  });

  it('shows a CLI instance sleep within 2 s, without a reload', async () => {
    const { page } = admin;
    await visit(admin, 'instances?tenant=acme', 'instances', '[data-instance]');
    const now = await fleet.admin.call('listInstances', { query: { tenant: 'acme' } });
    const target = now.find((i) => i.status === 'running' && i.desiredStatus === 'running');
    const key = `${target?.tenantId}/${target?.poolId}/${target?.id}`;
    const desired = page.locator(`[data-instance="${key}"] td:nth-child(3)`);
    expect(await desired.textContent()).toBe('running');
    await page.evaluate(() => ((globalThis as { sameDocument?: boolean }).sameDocument = true));
    const cli = await runCli(['instance', 'sleep', key], {
      env: { MVM_COORDINATOR_URL: fleet.url, MVM_TOKEN: ADMIN },
      readText: filesReader(),
      fetch: (request) => fetch(request),
      untilShutdown: () => Promise.resolve('SIGTERM'),
      stdout: { write: () => undefined },
      stderr: { write: () => undefined },
    });
    expect(cli).toBe(0);
    const started = Date.now();
    await expect
      .poll(() => desired.textContent(), { timeout: 2000, interval: 50 })
      .toBe('sleeping');
    expect(Date.now() - started).toBeLessThan(2000);
    const same = await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument);
    expect(same, 'the page was not reloaded').toBe(true);
    // And back from the page: its Wake button asks the API, and the row follows.
    await page.getByRole('button', { name: `wake ${key}` }).click();
    await expect.poll(() => desired.textContent()).toBe('running');
    const woken = await fleet.admin.call('listInstances', { query: { tenant: 'acme' } });
    expect(woken.find((i) => i.id === target?.id)?.desiredStatus).toBe('running');
  });

  it("shows a status an agent reports (not an audit event) within 2 s, on the list and the instance's page", async () => {
    const { page } = admin;
    const placed = await fleet.admin.call('listInstances', { query: { tenant: 'beta' } });
    const target = placed.find((i) => i.status === 'running');
    expect(target, 'a running beta instance').toBeDefined();
    const i = target as NonNullable<typeof target>;
    const key = `${i.tenantId}/${i.poolId}/${i.id}`;
    const report = (status: 'warm' | 'running') =>
      fleet.admin.call('reportInstanceStatus', {
        params: { node: i.nodeId as string, tenant: i.tenantId, pool: i.poolId, instance: i.id },
        body: { status },
      });
    const events = async () =>
      (await fleet.admin.call('listEvents', { query: { last: 500 } })).length;
    await visit(admin, 'instances?tenant=beta', 'instances-beta', `[data-instance="${key}"]`);
    const cell = page.locator(`[data-instance="${key}"] [data-status]`);
    expect(await cell.textContent()).toBe('running');
    await page.evaluate(() => ((globalThis as { sameDocument?: boolean }).sameDocument = true));
    const before = await events();
    await report('warm');
    expect(await events(), 'a status report writes no audit event').toBe(before);
    await expect.poll(() => cell.textContent(), { timeout: 2000, interval: 50 }).toBe('warm');
    await page.goto(`${fleet.url}/ui#/instance/${key}`);
    const shown = page.locator('main dd[data-status]');
    await expect.poll(() => shown.textContent()).toBe('warm');
    await report('running');
    await expect.poll(() => shown.textContent(), { timeout: 2000, interval: 50 }).toBe('running');
    const same = await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument);
    expect(same, 'the page was not reloaded').toBe(true);
  });

  it('shows an instance: its timeline, metrics and actions', async () => {
    const { page } = admin;
    const i = fleet.instances.find((x) => x.tenantId === 'acme');
    const key = `${i?.tenantId}/${i?.poolId}/${i?.id}`;
    await visit(admin, `instance/${key}`, 'instance', 'h1');
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    expect(await page.locator('main dd[data-status]').textContent()).toBe('running');
    await expect.poll(() => page.locator('main table').textContent()).toContain('pool.scale');
    // The charts draw the node's heartbeat samples of this instance.
    await expect
      .poll(() => page.locator('figcaption').allTextContents())
      .toEqual(['CPU %: 12.5', 'Memory MiB (VMM RSS): 200.0']);
    expect(await page.locator('svg.chart polyline').first().getAttribute('points')).not.toBe('');
  });

  it('lists events live and the API latency by route', async () => {
    const { page } = admin;
    await visit(admin, 'events', 'events', '[data-event]');
    const before = await page.locator('[data-event]').count();
    await fleet.admin.call('updateTenant', {
      params: { tenant: 'beta' },
      body: { quotas: { maxPools: 50 } },
    });
    await expect
      .poll(() => page.locator('[data-event]').first().textContent(), { timeout: 2000 })
      .toContain('tenant.update');
    expect(await page.locator('[data-event]').count()).toBe(before + 1);
    await visit(admin, 'latency', 'latency', '[data-route="listInstances"]');
  });

  it('shows the instances of a node that stopped heartbeating as stale, never running', async () => {
    const { page } = admin;
    const placed = await fleet.admin.call('listInstances', {});
    const onB = placed.filter((i) => i.nodeId === 'node-b');
    const onA = placed.filter((i) => i.nodeId === 'node-a');
    expect(onB.length, 'the scheduler spread the seed over both nodes').toBeGreaterThan(0);
    await page.goto(`${fleet.url}/ui#/instances`);
    await page.locator('[data-instance]').first().waitFor();
    expect(await count(page, 'stale-instances')).toBe('0');
    fleet.silence('node-b');
    await expect
      .poll(() => count(page, 'stale-instances'), { timeout: STALE_AFTER_MS + 5000 })
      .toBe(String(onB.length));
    for (const i of onB) {
      const cell = page.locator(
        `[data-instance="${i.tenantId}/${i.poolId}/${i.id}"] [data-status]`,
      );
      expect(await cell.getAttribute('data-status')).toBe('stale');
      expect(await cell.textContent()).not.toMatch(/^running/);
    }
    for (const i of onA) {
      const cell = page.locator(
        `[data-instance="${i.tenantId}/${i.poolId}/${i.id}"] [data-status]`,
      );
      expect(await cell.getAttribute('data-status')).not.toBe('stale');
    }
    await screenshot(page, 'instances-stale');
    await page.goto(`${fleet.url}/ui#/`);
    await expect.poll(() => count(page, 'stale-nodes')).toBe('1');
    await screenshot(page, 'fleet-stale');
  }, 30_000);

  it("shows a tenant's token its own tenant only", async () => {
    const tenant = await watchedPage(browser, fleet.url);
    audited.push(tenant);
    await logIn(tenant.page, fleet.url, fleet.tenantToken);
    await visit(tenant, 'instances', 'tenant-instances', '[data-instance]');
    // The seed's 3, and the one the page's scale to 4 added (its scale back only asked it gone).
    const acme = await fleet.admin.call('listInstances', { query: { tenant: 'acme' } });
    expect(acme).toHaveLength(4);
    expect(await count(tenant.page, 'instances')).toBe('4');
    expect(await tenant.page.locator('[data-instance^="beta/"]').count()).toBe(0);
    await visit(tenant, 'tenants', 'tenant-tenants', '[data-tenant]');
    expect(await count(tenant.page, 'tenants')).toBe('1');
    await tenant.context.close();
  });

  it('logged no console errors and sent no request off the host', () => {
    for (const w of audited) {
      expect(w.consoleErrors).toEqual([]);
      expect(w.offHost).toEqual([]);
    }
  });
});
