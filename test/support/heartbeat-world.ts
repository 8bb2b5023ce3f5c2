/**
 * The world of the heartbeat tests: a real coordinator served on loopback over SQLite in a
 * fresh directory, node-a registered on it, and an empty data dir for the agent. Both
 * directories go on `dirs`, which the test removes afterwards.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import {
  serveCoordinator,
  type RunningCoordinator,
  type ServeSettings,
} from '../../src/coordinator/serve.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';

export interface HeartbeatWorld {
  coordinator: RunningCoordinator;
  /** A client of the coordinator with the admin token. */
  admin: ApiClient;
  coordDir: string;
  agentDir: string;
}

/** `prefix` names the temporary directories (`<prefix>c-`, `<prefix>a-`). */
export async function heartbeatWorld(
  dirs: string[],
  prefix: string,
  adminToken: string,
  settings: Partial<ServeSettings> = {},
): Promise<HeartbeatWorld> {
  const coordDir = await mkdtemp(join(tmpdir(), `${prefix}c-`));
  const agentDir = await mkdtemp(join(tmpdir(), `${prefix}a-`));
  dirs.push(coordDir, agentDir);
  const coordinator = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl: join(coordDir, 'c.sqlite'),
      clusterCidr: '10.240.0.0/12',
      adminToken,
      dataDir: coordDir,
      ...settings,
    },
    { logger: pino({ level: 'silent' }) },
  );
  const admin = createApiClient({ baseUrl: coordinator.url, token: adminToken });
  await admin.call('registerNode', {
    params: { node: 'node-a' },
    body: { hostname: 'a', arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 10 } },
  });
  return { coordinator, admin, coordDir, agentDir };
}
