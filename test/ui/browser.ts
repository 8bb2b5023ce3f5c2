/**
 * Real Chromium (Debian's, at /usr/bin/chromium) driven by playwright-core. Every page the
 * tests open records console errors, uncaught exceptions and the host of every request; a
 * request to any other host than the coordinator's is refused and recorded.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { gateOf, type SuiteGate } from '../support/gate.ts';

export const CHROMIUM = process.env['MVM_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
export const SHOTS = resolve(import.meta.dirname, '../../test-results/ui');

/** Runs when Chromium is here; skips loudly on a dev machine without it, fails in CI. */
export function chromiumGate(): SuiteGate {
  const missing = existsSync(CHROMIUM) ? [] : [`${CHROMIUM} (apt install chromium)`];
  return gateOf('dashboard browser tests', missing);
}

export interface Watched {
  page: Page;
  context: BrowserContext;
  consoleErrors: string[];
  offHost: string[];
}

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export async function watchedPage(browser: Browser, origin: string): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const host = new URL(origin).host;
  const offHost: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === host) return route.continue();
    offHost.push(url.href);
    return route.abort();
  });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  return { page, context, consoleErrors, offHost };
}

export async function logIn(page: Page, origin: string, token: string): Promise<void> {
  await page.goto(`${origin}/ui`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('nav').waitFor({ state: 'visible' });
}

const axeSource = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

/** axe-core's serious and critical violations on the page as it stands. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated by the driver, not as an inline <script>: the page's CSP stays as shipped.
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<AxeResults> } }).axe;
    const results = await axe.run();
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  });
  return found;
}

interface AxeResults {
  violations: Array<{
    id: string;
    impact: string | null;
    help: string;
    nodes: Array<{ target: string[] }>;
  }>;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
