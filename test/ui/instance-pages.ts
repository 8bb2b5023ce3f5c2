/**
 * What the instance page's Chromium tests share (instance-sessions, -terminal, -files): a real
 * coordinator on SQLite whose node tunnel is served by the agent's tunnel client and the
 * static guest agent on this host (test/support/exec-world.ts; only the VM is missing), one
 * Chromium, and pages logged in and opened at an instance, each recording its console errors
 * and requests off the host. Call `useInstancePages` inside a `describe`: it registers the
 * hooks that start and stop all of it.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import type { Browser } from 'playwright-core';
import { databases, type TestDatabase } from '../support/databases.ts';
import { startExecWorld, type ExecWorld } from '../support/exec-world.ts';
import { launch, logIn, watchedPage, type Watched } from './browser.ts';

export interface InstancePages {
  readonly world: ExecWorld;
  readonly browser: Browser;
  /**
   * A new page logged in with `token` at the instance page of `ref`. Unless `audited` is
   * false, `expectClean` checks it at the end (a page expecting a 404 checks itself).
   */
  open(token: string, ref: string, options?: { audited?: boolean }): Promise<Watched>;
  /** No console error and no request off the host on any audited page (at least one). */
  expectClean(): void;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not started (useInstancePages' beforeAll)`);
  return value;
}

/** The shared world, started before the describe's tests and stopped after them. */
export function useInstancePages(setup?: (world: ExecWorld) => Promise<void>): InstancePages {
  let database: TestDatabase | undefined;
  let world: ExecWorld | undefined;
  let browser: Browser | undefined;
  const audited: Watched[] = [];

  beforeAll(async () => {
    const sqlite = databases.find((d) => d.name === 'sqlite');
    if (!sqlite) throw new Error('no sqlite test database kind');
    database = await sqlite.open();
    world = await startExecWorld(database.url);
    await setup?.(world);
    browser = await launch();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
    await database?.cleanup();
  });

  return {
    get world() {
      return required(world, 'the exec world');
    },
    get browser() {
      return required(browser, 'Chromium');
    },
    async open(token, ref, options = {}) {
      const url = required(world, 'the exec world').url;
      const w = await watchedPage(required(browser, 'Chromium'), url);
      if (options.audited !== false) audited.push(w);
      await logIn(w.page, url, token);
      await w.page.goto(`${url}/ui#/instance/${ref}`);
      return w;
    },
    expectClean() {
      expect(audited.length).toBeGreaterThan(0);
      for (const w of audited) {
        expect(w.consoleErrors).toEqual([]);
        expect(w.offHost).toEqual([]);
      }
    },
  };
}
