/**
 * The instance page's live parts in real Chromium, against a real coordinator (SQLite) whose
 * node tunnel is served by the agent's tunnel client and the static guest agent on this host
 * (test/support/exec-world.ts; only the VM is missing). The page mints single-use tickets
 * with its token and opens the exec and logs WebSockets with them: the console shows a line
 * written to the instance's console after the page opened it, the command box shows a
 * command's stdout, stderr and exit code; a tenant's token reaches its own instance only;
 * axe finds no serious violation; no console error, no request off the host.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN } from '../support/exec-world.ts';
import { chromiumGate, screenshot, seriousViolations } from './browser.ts';
import { useInstancePages } from './instance-pages.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('instance page sessions in Chromium', [chromiumGate()]);

describe.skipIf(!gate.run)('instance page sessions in Chromium', () => {
  const pages = useInstancePages((world) =>
    appendFile(world.consoleFile, 'booted before the page\n'),
  );
  const instancePage = (token: string, ref: string) => pages.open(token, ref);

  it('follows the console live: a line written after the page opened shows without a reload', async () => {
    const { page } = await instancePage(ADMIN, pages.world.ref);
    const tail = page.locator('#console');
    await expect
      .poll(() => tail.textContent(), { timeout: 15_000 })
      .toContain('booted before the page');
    await expect
      .poll(() => page.locator('#console-state').textContent(), { timeout: 10_000 })
      .toMatch(/^Following the console/);
    await page.evaluate(() => ((globalThis as { sameDocument?: boolean }).sameDocument = true));
    await appendFile(pages.world.consoleFile, 'written while watching\n');
    await expect
      .poll(() => tail.textContent(), { timeout: 10_000 })
      .toContain('written while watching');
    expect(await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument)).toBe(
      true,
    );
    expect(await seriousViolations(page), 'axe on the instance page').toEqual([]);
    await screenshot(page, 'instance-console');
    // Leaving the page ends the follow on the node too: nothing is left reading the console.
    const ended = () => pages.world.agentLog.filter((l) => l.msg === 'session ended').length;
    const before = ended();
    await page.goto(`${pages.world.url}/ui#/events`);
    await expect.poll(ended, { timeout: 10_000 }).toBe(before + 1);
  });

  it("follows the workload's output instead, when chosen, read through the guest", async () => {
    const workloadLog = join(pages.world.host.stateDir, 'workload.log');
    await writeFile(workloadLog, 'workload started\n');
    const { page } = await instancePage(ADMIN, pages.world.ref);
    const tail = page.locator('#console');
    await expect.poll(() => tail.textContent(), { timeout: 15_000 }).toContain('booted before');
    await page.getByLabel('Show').selectOption('workload');
    await expect
      .poll(() => page.locator('#console-state').textContent(), { timeout: 10_000 })
      .toMatch(/^Following the workload/);
    await expect.poll(() => tail.textContent(), { timeout: 10_000 }).toBe('workload started\n');
    await appendFile(workloadLog, 'workload said more\n');
    await expect
      .poll(() => tail.textContent(), { timeout: 10_000 })
      .toBe('workload started\nworkload said more\n');
    expect(await seriousViolations(page), 'axe with the workload shown').toEqual([]);
    await screenshot(page, 'instance-workload-logs');
  });

  it('runs a command from the box: its stdout, its stderr marked, and its exit code', async () => {
    const { page } = await instancePage(ADMIN, pages.world.ref);
    await page
      .getByLabel('Command', { exact: true })
      .fill('echo to-stdout; echo to-stderr >&2; exit 3');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    const status = page.locator('#exec-status');
    await expect.poll(() => status.getAttribute('data-exit'), { timeout: 20_000 }).toBe('3');
    expect(await status.textContent()).toBe('Exit 3');
    const output = page.locator('#exec-output');
    expect(await output.textContent()).toContain('to-stdout\n');
    expect(await output.locator('.stderr').allTextContents()).toEqual(['to-stderr\n']);
    // The session is audited under the admin token that minted its ticket.
    const events = await pages.world.api.call('listEvents', {
      query: { tenant: 'acme', last: 20 },
    });
    expect(events.find((e) => e.action === 'instance.exec')).toMatchObject({
      actor: expect.stringMatching(/^admin:/),
      detail: {
        argv: ['/bin/sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'],
        exitCode: 3,
      },
    });
    // Again, on the same page: each run mints its own ticket.
    await page.getByLabel('Command', { exact: true }).fill('echo second');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await expect.poll(() => status.getAttribute('data-exit'), { timeout: 20_000 }).toBe('0');
    expect(await output.textContent()).toBe('second\n');
    expect(await seriousViolations(page), 'axe after a command').toEqual([]);
    await screenshot(page, 'instance-exec');
    // Stop sends the command TERM; the page shows how it ended.
    await page.getByLabel('Command', { exact: true }).fill('echo waiting; exec sleep 60');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await expect.poll(() => output.textContent(), { timeout: 20_000 }).toBe('waiting\n');
    await page.getByRole('button', { name: `stop the command in ${pages.world.ref}` }).click();
    await expect.poll(() => status.getAttribute('data-exit'), { timeout: 20_000 }).toBe('143');
    expect(await status.textContent()).toBe('Killed by TERM (exit 143)');
  });

  it("sends the input box as the command's stdin, then its end; an empty box sends none", async () => {
    const { page } = await instancePage(ADMIN, pages.world.ref);
    const command = page.getByLabel('Command', { exact: true });
    const input = page.getByLabel('Input', { exact: true });
    const run = page.getByRole('button', { name: 'Run', exact: true });
    const status = page.locator('#exec-status');
    const output = page.locator('#exec-output');
    const ran = async (exit: string) => {
      await expect.poll(() => status.getAttribute('data-exit'), { timeout: 20_000 }).toBe(exit);
      return output.textContent();
    };
    // Lines typed into the box reach the command, which ends when the input does.
    await command.fill('tr a-z A-Z; echo "end of input" >&2');
    await input.fill('hello\nworld, ünïcode\n');
    await run.click();
    expect(await ran('0')).toBe('HELLO\nWORLD, üNïCODE\nend of input\n');
    // More than one window of credit (256 KiB): sent as the session grants more.
    const big = 'x'.repeat(299_999) + '\n';
    await command.fill('wc -c; exit 4');
    await input.fill(big);
    await run.click();
    expect((await ran('4'))?.trim()).toBe('300000');
    // An empty box: the command reads nothing (/dev/null) and is not left waiting.
    await input.fill('');
    await command.fill('cat; echo "read nothing"');
    await run.click();
    expect(await ran('0')).toBe('read nothing\n');
    // The audited argv is the command's; the input is not recorded.
    const events = await pages.world.api.call('listEvents', {
      query: { tenant: 'acme', last: 20 },
    });
    const execs = events.filter((e) => e.action === 'instance.exec');
    expect(execs.map((e) => e.detail['exitCode'])).toEqual(expect.arrayContaining([0, 4]));
    expect(JSON.stringify(execs)).not.toContain('xxxxxxxx');
    expect(await seriousViolations(page), 'axe with input').toEqual([]);
    await screenshot(page, 'instance-exec-stdin');
  });

  it("gives a tenant's token its own instance's console and commands, and nothing of another's", async () => {
    const w = await instancePage(pages.world.tokens.acme, pages.world.ref);
    await expect
      .poll(() => w.page.locator('#console').textContent(), { timeout: 15_000 })
      .toContain('written while watching');
    await w.page.getByLabel('Command', { exact: true }).fill('echo tenant-ran');
    await w.page.getByRole('button', { name: 'Run', exact: true }).click();
    await expect
      .poll(() => w.page.locator('#exec-status').getAttribute('data-exit'), { timeout: 20_000 })
      .toBe('0');
    expect(await w.page.locator('#exec-output').textContent()).toBe('tenant-ran\n');
    const events = await pages.world.api.call('listEvents', {
      query: { tenant: 'acme', last: 20 },
    });
    expect(events.find((e) => e.action === 'instance.exec')?.actor).toBe('tenant:acme:acme-ci');

    // Another tenant's instance is a missing one: no record, no console, no command box.
    const other = await pages.open(pages.world.tokens.acme, pages.world.rivalRef, {
      audited: false,
    });
    await expect
      .poll(() => other.page.locator('main [role="alert"]').textContent(), { timeout: 10_000 })
      .toMatch(/not found/i);
    expect(await other.page.locator('#console').count()).toBe(0);
    expect(await other.page.locator('#exec-command').count()).toBe(0);
    // Chromium reports the API's 404 itself; nothing else went wrong.
    expect(other.consoleErrors.filter((e) => !/status of 404/.test(e))).toEqual([]);
    expect(other.offHost).toEqual([]);
    await screenshot(other.page, 'instance-other-tenant');
    await other.context.close();
  });

  it('logged no console errors and sent no request off the host', () => pages.expectClean());
});
