import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe } from 'vitest';
import type { FetchLike } from '../../../src/drivers/coordinator-api/api-client.ts';
import { resolveAdminToken } from '../../../src/coordinator/admin-token.ts';
import { randomSuffix } from '../../../src/coordinator/random-suffix.ts';
import { openStore } from '../../../src/db/open-store.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { coordinatorWorld } from '../../support/coordinator-world.ts';
import { databasesUnderTest, type TestDatabase } from '../../support/databases.ts';
import { coordinatorImages } from '../../../src/coordinator/builds/image-builders.ts';
import { DEFAULT_CACHE_DIR } from '../../../src/drivers/dev-image/cache-dir.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';

export interface InProcessCoordinator {
  /** Holds `admin.token`, as `mvm coordinator serve` would leave it. */
  dataDir: string;
  fetch: FetchLike;
  close(): Promise<void>;
}

/**
 * A real coordinator app, reached without a socket, on a temporary SQLite file or on the
 * database at `databaseUrl` (a Postgres test database; the caller drops it).
 */
export async function startInProcessCoordinator(
  options: { databaseUrl?: string; images?: boolean } = {},
): Promise<InProcessCoordinator> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-cli-'));
  const store = await openStore(options.databaseUrl ?? join(dataDir, 'coordinator.sqlite'));
  const { fetch, services } = await coordinatorWorld(store, {
    adminToken: await resolveAdminToken(dataDir),
    randomSuffix: () => randomSuffix(),
    ...(options.images ? { images: testImages(dataDir) } : {}),
  });
  return {
    dataDir,
    fetch,
    close: async () => {
      await services.buildRunner?.close();
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The coordinator's artifact store and real builders in its data dir: the dev image from the
 * shared cache (MVM_CACHE_DIR, as the agents use), Nix without a binary cache (this host has
 * no network: asking cache.nixos.org only costs retries).
 */
export function testImages(dataDir: string) {
  return coordinatorImages({
    dataDir,
    runner: new NodeProcessRunner(),
    clock: systemClock,
    dev: { cacheDir: process.env['MVM_CACHE_DIR'] ?? DEFAULT_CACHE_DIR },
    nixOptions: [['substituters', '']],
  });
}

/**
 * Defines `body` once per test database (SQLite and Postgres, as the store tests do); each
 * test gets a fresh in-process coordinator on it.
 */
export async function describeEachCoordinator(
  title: string,
  body: (coordinator: () => InProcessCoordinator) => void,
  options: { images?: boolean } = {},
): Promise<void> {
  for (const target of await databasesUnderTest()) {
    describe.skipIf(target.skipReason !== undefined)(`${title} [${target.name}]`, () => {
      let database: TestDatabase | undefined;
      let current: InProcessCoordinator | undefined;
      beforeEach(async () => {
        database = await target.open();
        current = await startInProcessCoordinator({ databaseUrl: database.url, ...options });
      });
      afterEach(async () => {
        await current?.close();
        await database?.cleanup();
        current = undefined;
        database = undefined;
      });
      body(() => {
        if (!current) throw new Error('no coordinator: use it inside a test');
        return current;
      });
    });
  }
}
