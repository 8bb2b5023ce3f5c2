/**
 * xterm.js as the coordinator serves it (src/dashboard/xterm-vendor.ts): the pinned package's
 * module with its inline `<style>` elements and `style` attribute turned into CSSOM (the pages'
 * CSP allows no inline style), no source map reference; a source where a rewrite does not
 * match as expected is refused rather than served half rewritten. Served under the CSP with
 * no token, like every dashboard file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinatorApp, type CoordinatorApp } from '../../src/coordinator/app.ts';
import { openStore } from '../../src/db/open-store.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import type { Store } from '../../src/ports/store.ts';
import { VendorRewriteError, rewriteXterm, xtermModule } from '../../src/dashboard/xterm-vendor.ts';

describe('xterm as served to the terminal', () => {
  it('has no inline style left and no source map reference', async () => {
    const source = await xtermModule();
    expect(source).not.toContain('createElement("style")');
    expect(source).not.toContain('setAttribute("style"');
    expect(source).not.toContain('sourceMappingURL');
    expect(source.split('createElement("mvm-style")').length - 1).toBe(3);
    expect(source).toMatch(/export\{\w+ as Terminal\}/);
  });

  it('refuses a source whose rewrites do not match (another xterm version)', () => {
    expect(() => rewriteXterm('let s=document.createElement("style");')).toThrow(
      VendorRewriteError,
    );
  });

  describe('over the coordinator app', () => {
    let dir: string;
    let store: Store;
    let app: CoordinatorApp['app'];
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'mvm-uiterm-vendor-'));
      store = await openStore(join(dir, 'c.sqlite'));
      app = createCoordinatorApp({
        store,
        clock: systemClock,
        clusterCidr: '10.240.0.0/12',
        version: 'test',
        randomSuffix: () => 'x',
      }).app;
    });
    afterAll(async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('serves xterm, its stylesheet and the fit addon with the CSP', async () => {
      for (const [path, type] of [
        ['/ui/vendor/xterm.mjs', 'text/javascript'],
        ['/ui/vendor/xterm.css', 'text/css'],
        ['/ui/vendor/addon-fit.mjs', 'text/javascript'],
      ] as const) {
        const r = await app.request(path);
        expect(r.status, path).toBe(200);
        expect(r.headers.get('content-type')).toContain(type);
        expect(r.headers.get('content-security-policy')).toContain("style-src 'self'");
        expect((await r.text()).length).toBeGreaterThan(1000);
      }
    });
  });
});
