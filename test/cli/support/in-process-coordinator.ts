import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FetchLike } from '../../../src/drivers/coordinator-api/api-client.ts';
import { resolveAdminToken } from '../../../src/coordinator/admin-token.ts';
import { createCoordinatorApp } from '../../../src/coordinator/app.ts';
import { randomSuffix } from '../../../src/coordinator/random-suffix.ts';
import { openStore } from '../../../src/db/open-store.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';

export interface InProcessCoordinator {
  /** Holds `admin.token`, as `mvm coordinator serve` would leave it. */
  dataDir: string;
  fetch: FetchLike;
  close(): Promise<void>;
}

/** A real coordinator app on a temporary SQLite file, reached without a socket. */
export async function startInProcessCoordinator(): Promise<InProcessCoordinator> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-cli-'));
  const store = await openStore(join(dataDir, 'coordinator.sqlite'));
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
