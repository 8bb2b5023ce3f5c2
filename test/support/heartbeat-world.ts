/**
 * The world of the heartbeat tests: a real coordinator served on loopback over SQLite in a
 * fresh directory (removed by `coordinator.close()`), node-a registered on it, and an empty
 * data dir for the agent, which goes on `dirs` for the test to remove afterwards.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import {
  serveTestCoordinator,
  type TestCoordinator,
  type TestCoordinatorOptions,
} from './served-coordinator.ts';

export interface HeartbeatWorld {
  coordinator: TestCoordinator;
  /** A client of the coordinator with the admin token. */
  admin: ApiClient;
  agentDir: string;
}

/** `prefix` names the temporary directories (`<prefix>c-`, `<prefix>a-`). */
export async function heartbeatWorld(
  dirs: string[],
  prefix: string,
  adminToken: string,
  options: Omit<TestCoordinatorOptions, 'prefix' | 'adminToken'> = {},
): Promise<HeartbeatWorld> {
  const agentDir = await mkdtemp(join(tmpdir(), `${prefix}a-`));
  dirs.push(agentDir);
  const coordinator = await serveTestCoordinator({
    ...options,
    prefix: `${prefix}c-`,
    adminToken,
  });
  await coordinator.api.call('registerNode', {
    params: { node: 'node-a' },
    body: { hostname: 'a', arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 10 } },
  });
  return { coordinator, admin: coordinator.api, agentDir };
}
