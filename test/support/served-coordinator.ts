/**
 * A coordinator served on loopback for a whole suite, over a fresh database of the kind under
 * test (test/support/databases.ts): call inside a `describe`; it is started before the
 * suite's tests and closed, its database dropped and its data dir removed after them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll } from 'vitest';
import {
  serveCoordinator,
  type RunningCoordinator,
  type ServeSettings,
} from '../../src/coordinator/serve.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { DatabaseKind, TestDatabase } from './databases.ts';

export interface ServedCoordinator {
  /** Its base URL (in the suite's tests and hooks). */
  url(): string;
  /** A client of it with `token`, the admin token unless another is given. */
  client(token?: string): ApiClient;
  /** Its database, for a store opened beside it (as another replica would). */
  databaseUrl(): string;
}

/** `prefix` names the data dir; `logger` is silent unless given. */
export function serveForSuite(
  db: DatabaseKind,
  prefix: string,
  adminToken: string,
  options: { settings?: Partial<ServeSettings>; logger?: pino.Logger } = {},
): ServedCoordinator {
  let dir: string | undefined;
  let database: TestDatabase | undefined;
  let coordinator: RunningCoordinator | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    database = await db.open();
    coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: database.url,
        clusterCidr: '10.240.0.0/12',
        adminToken,
        dataDir: dir,
        ...options.settings,
      },
      { logger: options.logger ?? pino({ level: 'silent' }) },
    );
  });
  afterAll(async () => {
    await coordinator?.close();
    await database?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const url = () => {
    if (coordinator === undefined) throw new Error('no coordinator: use it inside the suite');
    return coordinator.url;
  };
  return {
    url,
    client: (token = adminToken) => createApiClient({ baseUrl: url(), token }),
    databaseUrl: () => {
      if (database === undefined) throw new Error('no database: use it inside the suite');
      return database.url;
    },
  };
}
