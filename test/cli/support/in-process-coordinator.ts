import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe } from 'vitest';
import type { FetchLike } from '../../../src/drivers/coordinator-api/api-client.ts';
import { resolveAdminToken } from '../../../src/coordinator/admin-token.ts';
import { createCoordinatorApp } from '../../../src/coordinator/app.ts';
import { randomSuffix } from '../../../src/coordinator/random-suffix.ts';
import { openStore } from '../../../src/db/open-store.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { databasesUnderTest, type TestDatabase } from '../../support/databases.ts';

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
  options: { databaseUrl?: string } = {},
): Promise<InProcessCoordinator> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-cli-'));
  const store = await openStore(options.databaseUrl ?? join(dataDir, 'coordinator.sqlite'));
  const { app, services } = createCoordinatorApp({
    store,
    clock: systemClock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: () => randomSuffix(),
  });
  await services.adminToken.adopt(await resolveAdminToken(dataDir));
  return {
    dataDir,
    fetch: (request) => app.fetch(request),
    close: async () => {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Defines `body` once per test database (SQLite and Postgres, as the store tests do); each
 * test gets a fresh in-process coordinator on it.
 */
export async function describeEachCoordinator(
  title: string,
  body: (coordinator: () => InProcessCoordinator) => void,
): Promise<void> {
  for (const target of await databasesUnderTest()) {
    describe.skipIf(target.skipReason !== undefined)(`${title} [${target.name}]`, () => {
      let database: TestDatabase | undefined;
      let current: InProcessCoordinator | undefined;
      beforeEach(async () => {
        database = await target.open();
        current = await startInProcessCoordinator({ databaseUrl: database.url });
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
