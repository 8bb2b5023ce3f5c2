/**
 * The instance page's terminal in real Chromium, against a real coordinator (SQLite) whose
 * node tunnel is served by the agent's tunnel client and the static guest agent on this host
 * (test/support/exec-world.ts; only the VM is missing). xterm.js is served from the package
 * under the pages' CSP; the page mints an exec ticket and opens a pty session with it:
 * keystrokes typed into the terminal run in the shell and their output is drawn, the pty
 * follows the terminal's size, and the shell's exit code is shown. A tenant's token opens its
 * own instance's terminal and nothing of another tenant's. axe finds no serious violation; no
 * console error (a CSP refusal of an inline style would be one), no request off the host.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ADMIN } from '../support/exec-world.ts';
import { chromiumGate, screenshot, seriousViolations } from './browser.ts';
import { useInstancePages } from './instance-pages.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('the instance page terminal in Chromium', [chromiumGate()]);

/** What the terminal shows, row by row (xterm's DOM renderer draws each row as a div). */
function screenText(page: Page): Promise<string> {
  return page
    .locator('#terminal .xterm-rows > div')
    .allTextContents()
    .then((rows) => rows.map((r) => r.replace(/\u00a0/g, ' ').trimEnd()).join('\n'));
}

async function size(page: Page): Promise<string> {
  const rows = await page.locator('#terminal').getAttribute('data-rows');
  const cols = await page.locator('#terminal').getAttribute('data-cols');
  return `${rows} ${cols}`;
}

describe.skipIf(!gate.run)('the instance page terminal in Chromium', () => {
  const pages = useInstancePages();

  async function openTerminal(token: string, ref: string) {
    const w = await pages.open(token, ref);
    await w.page.getByRole('button', { name: 'Open a terminal' }).click();
    await expect
      .poll(() => w.page.locator('#terminal-status').textContent(), { timeout: 20_000 })
      .toMatch(/^Connected to /);
    return w;
  }

  it('runs what is typed into it, follows its size, and shows the exit code', async () => {
    const { page } = await openTerminal(ADMIN, pages.world.ref);
    // The keyboard reaches the shell through xterm's own input (focused once connected).
    await page.keyboard.type('echo "mvm-$((6*7))-ok"\n');
    await expect.poll(() => screenText(page), { timeout: 15_000 }).toMatch(/^mvm-42-ok$/m);
    // The pty has the terminal's size: the one it opened with, then the one after a resize.
    const before = await size(page);
    await page.keyboard.type('stty size\n');
    await expect.poll(() => screenText(page), { timeout: 15_000 }).toContain(`\n${before}`);
    await page.setViewportSize({ width: 700, height: 900 });
    await expect.poll(() => size(page), { timeout: 10_000 }).not.toBe(before);
    const after = await size(page);
    await page.keyboard.type('clear; stty size\n');
    await expect
      .poll(() => screenText(page), { timeout: 15_000 })
      .toMatch(new RegExp(`^${after}$`, 'm'));
    expect(await seriousViolations(page), 'axe with the terminal open').toEqual([]);
    await screenshot(page, 'instance-terminal');
    await page.keyboard.type('exit 7\n');
    const status = page.locator('#terminal-status');
    await expect.poll(() => status.getAttribute('data-exit'), { timeout: 15_000 }).toBe('7');
    expect(await status.textContent()).toBe('The shell ended: exit 7');
    // The session is an instance.shell audit event under the admin token that minted its ticket.
    const events = await pages.world.api.call('listEvents', {
      query: { tenant: 'acme', last: 20 },
    });
    expect(events.find((e) => e.action === 'instance.shell')).toMatchObject({
      actor: expect.stringMatching(/^admin:/),
      detail: { tty: true, exitCode: 7 },
    });
  });

  it('leaves the terminal with Shift+Tab: the keyboard is not trapped', async () => {
    const { page } = await openTerminal(ADMIN, pages.world.ref);
    const inTerminal = () =>
      page.evaluate(
        () =>
          (
            globalThis as unknown as {
              document: { activeElement: { closest(s: string): unknown } | null };
            }
          ).document.activeElement?.closest('#terminal') != null,
      );
    await expect.poll(inTerminal, { timeout: 5_000 }).toBe(true);
    await page.keyboard.press('Shift+Tab');
    expect(await inTerminal()).toBe(false);
    // The Close button ends the session.
    await page.getByRole('button', { name: `close the terminal in ${pages.world.ref}` }).click();
    await expect
      .poll(() => page.locator('#terminal-status').getAttribute('data-exit'), { timeout: 15_000 })
      .toBe('none');
  });

  it("opens a tenant's own instance's terminal, and nothing of another tenant's", async () => {
    const { page } = await openTerminal(pages.world.tokens.acme, pages.world.ref);
    await page.keyboard.type('echo "tenant-$((1+1))"\n');
    await expect.poll(() => screenText(page), { timeout: 15_000 }).toMatch(/^tenant-2$/m);
    await page.keyboard.type('exit\n');
    await expect
      .poll(() => page.locator('#terminal-status').getAttribute('data-exit'), { timeout: 15_000 })
      .toBe('0');
    const events = await pages.world.api.call('listEvents', {
      query: { tenant: 'acme', last: 20 },
    });
    expect(events.find((e) => e.action === 'instance.shell')?.actor).toBe('tenant:acme:acme-ci');

    // Another tenant's instance is a missing one: no page, so no terminal to open.
    const other = await pages.open(pages.world.tokens.acme, pages.world.rivalRef, {
      audited: false,
    });
    await expect
      .poll(() => other.page.locator('main [role="alert"]').textContent(), { timeout: 10_000 })
      .toMatch(/not found/i);
    expect(await other.page.locator('#terminal-open').count()).toBe(0);
    // Nor can the page's own module mint a ticket for it: the API answers the 404 of a
    // missing instance.
    const minted = await other.page.evaluate(async (ref) => {
      const [tenant, pool, id] = ref.split('/');
      const storage = (
        globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }
      ).sessionStorage;
      const token = storage.getItem('mvm.token') ?? '';
      const r = await fetch(`/v1/tenants/${tenant}/pools/${pool}/instances/${id}/tickets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ session: 'exec' }),
      });
      return r.status;
    }, pages.world.rivalRef);
    expect(minted).toBe(404);
    expect(other.consoleErrors.filter((e) => !/status of 404/.test(e))).toEqual([]);
    expect(other.offHost).toEqual([]);
    await other.context.close();
  });

  it('logged no console errors and sent no request off the host', () => pages.expectClean());
});
