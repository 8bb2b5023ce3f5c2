/**
 * File copy on the instance page in real Chromium, against a real coordinator (SQLite) whose
 * node tunnel is served by the agent's tunnel client and the static guest agent on this host
 * (test/support/exec-world.ts: the "guest" is this host, so guest paths are host paths). An
 * upload is a `put` session (its bytes within the session's credit, then the end), a download
 * a `get` session offered as a link to save: bytes and modes as `mvm instance cp` keeps them,
 * a missing file said so, each copy audited; axe, no console error, nothing off the host.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN } from '../support/exec-world.ts';
import { chromiumGate, screenshot, seriousViolations, type Watched } from './browser.ts';
import { useInstancePages } from './instance-pages.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('file copy on the instance page in Chromium', [chromiumGate()]);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!gate.run)('file copy on the instance page in Chromium', () => {
  const pages = useInstancePages();
  let scratch: string;
  let w: Watched;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'mvm-uiterm-files-'));
  });

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('uploads a file into the instance, byte for byte, with mode 0644', async () => {
    w = await pages.open(ADMIN, pages.world.ref);
    // More than one window (256 KiB): the page sends as the session grants credit.
    const content = randomBytes(700 * 1024);
    await w.page.locator('#upload-file').setInputFiles({
      name: 'upload.bin',
      mimeType: 'application/octet-stream',
      buffer: content,
    });
    await w.page.getByLabel('To (absolute path in the instance)').fill(`${scratch}/`);
    await w.page.getByRole('button', { name: 'Upload', exact: true }).click();
    const status = w.page.locator('#upload-status');
    await expect
      .poll(() => status.getAttribute('data-bytes'), { timeout: 20_000 })
      .toBe(String(content.length));
    expect(await status.textContent()).toBe(
      `Copied ${content.length} bytes to ${scratch}/upload.bin (mode 0644)`,
    );
    const written = join(scratch, 'upload.bin');
    expect(sha256(await readFile(written))).toBe(sha256(content));
    expect((await stat(written)).mode & 0o7777).toBe(0o644);
  });

  it('downloads a file out of the instance as a link to save, and says when one is missing', async () => {
    const content = randomBytes(300 * 1024);
    const source = join(scratch, 'from-guest.bin');
    await writeFile(source, content);
    await chmod(source, 0o640);
    await w.page.getByLabel('From (absolute path in the instance)').fill(source);
    await w.page.getByRole('button', { name: 'Download', exact: true }).click();
    const status = w.page.locator('#download-status');
    await expect
      .poll(() => status.getAttribute('data-bytes'), { timeout: 20_000 })
      .toBe(String(content.length));
    expect(await status.textContent()).toBe(
      `Read ${content.length} bytes from ${source} (mode 0640)`,
    );
    const [download] = await Promise.all([
      w.page.waitForEvent('download'),
      w.page.getByRole('link', { name: 'Save from-guest.bin' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('from-guest.bin');
    const saved = await download.path();
    expect(sha256(await readFile(saved))).toBe(sha256(content));
    expect(await seriousViolations(w.page), 'axe after the copies').toEqual([]);
    await screenshot(w.page, 'instance-files');

    await w.page.getByLabel('From (absolute path in the instance)').fill(`${scratch}/none`);
    await w.page.getByRole('button', { name: 'Download', exact: true }).click();
    await expect.poll(() => status.getAttribute('data-bytes'), { timeout: 20_000 }).toBe('none');
    expect(await status.textContent()).toMatch(/^Not copied: .*(no such|not found)/i);
    expect(await w.page.locator('#download-link').count()).toBe(0);

    // Each copy is an instance.cp audit event under the page's token.
    const events = await pages.world.api.call('listEvents', {
      query: { tenant: 'acme', last: 30 },
    });
    const copies = events.filter((e) => e.action === 'instance.cp');
    expect(copies.map((e) => [e.actor.split(':')[0], e.detail['direction']])).toEqual(
      expect.arrayContaining([
        ['admin', 'into-instance'],
        ['admin', 'from-instance'],
      ]),
    );
  });

  it('logged no console errors and sent no request off the host', () => pages.expectClean());
});
