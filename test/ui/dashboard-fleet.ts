/**
 * A coordinator on SQLite for the dashboard's browser tests, seeded through its API as agents
 * and operators would: tenants, a tenant token, pools, two nodes that heartbeat and report
 * their instances running. No guests: the nodes are the test, speaking the agent's routes.
 * The node-health loop does not run, so a silent node stays `ready` in the store and only its
 * heartbeat's age says it is stale: exactly what the page must notice by itself.
 */
import { serve, type ServerType } from '@hono/node-server';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/db/open-store.ts';
import { resolveAdminToken } from '../../src/coordinator/admin-token.ts';
import { acceptWebSockets } from '../../src/coordinator/websocket-upgrade.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { InstanceView } from '../../src/contract/resources.ts';
import type { Store } from '../../src/ports/store.ts';
import { coordinatorWorld } from '../support/coordinator-world.ts';

export const ADMIN = 'dashboard-admin-token-0123456789abcdef';
export const STALE_AFTER_MS = 3000;
const CAPACITY = { vcpus: 8, memMib: 8192, diskGib: 50 };

export interface DashboardFleet {
  url: string;
  admin: ApiClient;
  tenantToken: string;
  instances: InstanceView[];
  /** Stops `node`'s heartbeats, as if its agent died. */
  silence(node: string): void;
  close(): Promise<void>;
}

export async function startDashboardFleet(): Promise<DashboardFleet> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-ui-'));
  const store: Store = await openStore(join(dir, 'coordinator.sqlite'));
  const { app } = await coordinatorWorld(store, {
    adminToken: await resolveAdminToken(dir, ADMIN),
    nodeLostAfterMs: STALE_AFTER_MS,
  });
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  // The instance page's console and command box are WebSocket sessions, as in serve.ts.
  const sockets = acceptWebSockets(server, app.fetch, silentLogger);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const admin = createApiClient({ baseUrl: url, token: ADMIN });
  const tenantToken = await seed(admin);
  const instances = await runAll(admin);
  const beating = new Map<string, NodeJS.Timeout>();
  for (const node of ['node-a', 'node-b']) {
    const mine = instances.filter((i) => i.nodeId === node);
    const beat = () => void heartbeat(admin, node, mine).catch(() => undefined);
    beating.set(node, setInterval(beat, 500));
  }
  return {
    url,
    admin,
    tenantToken,
    instances,
    silence: (node) => clearInterval(beating.get(node)),
    close: async () => {
      for (const timer of beating.values()) clearInterval(timer);
      sockets.close();
      await new Promise((resolve) => server.close(resolve));
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function seed(admin: ApiClient): Promise<string> {
  await admin.call('createTenant', { body: { id: 'acme', netId: 42 } });
  await admin.call('createTenant', { body: { id: 'beta', netId: 43 } });
  const { token } = await admin.call('createToken', {
    params: { tenant: 'acme' },
    body: { name: 'ui' },
  });
  for (const node of ['node-a', 'node-b']) {
    await admin.call('registerNode', {
      params: { node },
      body: { hostname: node, arch: 'x86_64', capacity: CAPACITY, labels: {} },
    });
    await heartbeat(admin, node);
  }
  await admin.call('createPool', {
    params: { tenant: 'acme' },
    body: { id: 'web', vcpus: 1, memMib: 256 },
  });
  await admin.call('createPool', {
    params: { tenant: 'beta' },
    body: { id: 'api', vcpus: 2, memMib: 512 },
  });
  await admin.call('scalePool', { params: { tenant: 'acme', pool: 'web' }, body: { running: 3 } });
  await admin.call('scalePool', { params: { tenant: 'beta', pool: 'api' }, body: { running: 2 } });
  await admin.call('runScheduler', {});
  return token;
}

/** A heartbeat as an agent sends it, with each instance's sample (CPU 12.5 %, 200 MiB RSS). */
function heartbeat(admin: ApiClient, node: string, instances: InstanceView[] = []) {
  return admin.call('nodeHeartbeat', {
    params: { node },
    body: {
      capacity: CAPACITY,
      usage: { vcpus: 2, memMib: 1024, instances: {}, diskFreeMib: 40_000 },
      instances: instances.map((i) => ({
        tenant: i.tenantId,
        pool: i.poolId,
        instance: i.id,
        cpuPermille: 125,
        rssKib: 200 * 1024,
      })),
    },
  });
}

/** Every instance reported running by the node it was placed on, as its agent would. */
async function runAll(admin: ApiClient): Promise<InstanceView[]> {
  const placed = await admin.call('listInstances', {});
  for (const i of placed) {
    if (i.nodeId === null) throw new Error(`instance ${i.id} was not placed`);
    await admin.call('reportInstanceStatus', {
      params: { node: i.nodeId, tenant: i.tenantId, pool: i.poolId, instance: i.id },
      body: { status: 'running' },
    });
  }
  return admin.call('listInstances', {});
}
