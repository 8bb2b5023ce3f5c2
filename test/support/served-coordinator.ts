/**
 * A real coordinator served on loopback for tests: `serveTestCoordinator` starts one now (by
 * default over SQLite in a fresh temp dir) and hands back its URL, admin token and client;
 * `serveForSuite` does the same for a whole suite over a database of the kind under test
 * (test/support/databases.ts), started before the suite's tests and closed after them.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
import { freePort } from './free-port.ts';

export interface TestCoordinatorOptions {
  /** Its data dir, kept by `close()`; default a fresh temp dir, removed by `close()`. */
  dir?: string;
  /** Names the fresh temp dir (default `mvm-coord-`). */
  prefix?: string;
  /** Its store; default SQLite at `<dir>/c.sqlite`. */
  databaseUrl?: string;
  /** The admin token configured; default none: the one it makes in `<dir>/admin.token`. */
  adminToken?: string;
  /** A ready node silent this long is lost (the coordinator's default, 30 s, when absent). */
  nodeLostAfterMs?: number;
  /**
   * It will `stop()` and `start()` again on its address: the port comes from freePort(), since
   * a kernel-picked port, once closed, can go to another test's outgoing connection.
   */
  restartable?: boolean;
  /** Silent unless given. */
  logger?: pino.Logger;
  /** Any other setting (the listen address, store and data dir are the options above). */
  settings?: Partial<Omit<ServeSettings, 'listen' | 'databaseUrl' | 'dataDir' | 'adminToken'>>;
}

export interface TestCoordinator {
  /** Its base URL, the same across a restart. */
  url: string;
  dir: string;
  databaseUrl: string;
  /** The admin token, configured or read back from `<dir>/admin.token`. */
  adminToken: string;
  /** A client of it with the admin token. */
  api: ApiClient;
  /** Closes its listener, keeping its data; nothing when stopped. */
  stop(): Promise<void>;
  /** Listens again on the same address over the same data (`restartable` only). */
  start(): Promise<void>;
  /** Stops it and removes the data dir it made (a given `dir` is the caller's to remove). */
  close(): Promise<void>;
}

/** A coordinator on loopback now, over SQLite in a fresh temp dir unless told otherwise. */
export async function serveTestCoordinator(
  options: TestCoordinatorOptions = {},
): Promise<TestCoordinator> {
  const made = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), options.prefix ?? 'mvm-coord-')));
  const settings: ServeSettings = {
    listen: `127.0.0.1:${options.restartable ? await freePort() : 0}`,
    databaseUrl: options.databaseUrl ?? join(dir, 'c.sqlite'),
    clusterCidr: '10.240.0.0/12',
    dataDir: dir,
    ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
    ...(options.nodeLostAfterMs === undefined ? {} : { nodeLostAfterMs: options.nodeLostAfterMs }),
    ...options.settings,
  };
  const logger = options.logger ?? pino({ level: 'silent' });
  const serve = (listen: string) => serveCoordinator({ ...settings, listen }, { logger });
  let running: RunningCoordinator | undefined = await serve(settings.listen);
  const url = running.url;
  const adminToken =
    options.adminToken ?? (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
  const stop = async () => {
    const closing = running;
    running = undefined;
    await closing?.close();
  };
  return {
    url,
    dir,
    databaseUrl: settings.databaseUrl,
    adminToken,
    api: createApiClient({ baseUrl: url, token: adminToken }),
    stop,
    async start() {
      if (!options.restartable) throw new Error('serveTestCoordinator: pass restartable');
      running ??= await serve(new URL(url).host);
    },
    async close() {
      await stop();
      if (made) await rm(dir, { recursive: true, force: true });
    },
  };
}

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
  options: Pick<TestCoordinatorOptions, 'settings' | 'logger'> = {},
): ServedCoordinator {
  let database: TestDatabase | undefined;
  let coordinator: TestCoordinator | undefined;
  beforeAll(async () => {
    database = await db.open();
    coordinator = await serveTestCoordinator({
      ...options,
      prefix,
      databaseUrl: database.url,
      adminToken,
    });
  });
  afterAll(async () => {
    await coordinator?.close();
    await database?.cleanup();
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
