import type { FleetNode, Instance, Pool } from '../../src/core/model.ts';
import type { InstanceKey, Store, TenantRecord, TokenRecord } from '../../src/ports/store.ts';

export const T0 = '2025-01-01T00:00:00.000Z';
export const T1 = '2025-01-01T00:01:00.000Z';
export const T2 = '2025-01-01T00:02:00.000Z';

export function tenant(
  id = 'acme',
  netId = 99,
  overrides: Partial<TenantRecord> = {},
): TenantRecord {
  return {
    id,
    netId,
    subnet: `10.240.${netId}.0/24`,
    gateway: `10.240.${netId}.1`,
    quotas: {
      maxVcpus: 64,
      maxMemMib: 131072,
      maxRunning: 20,
      maxWarm: 10,
      maxPools: 5,
      maxInstancesPerPool: 50,
      maxDiskGib: 500,
    },
    egress: false,
    createdAt: T0,
    updatedAt: T0,
    version: 1,
    ...overrides,
  };
}

export function pool(tenantId = 'acme', id = 'workers', overrides: Partial<Pool> = {}): Pool {
  return {
    tenantId,
    id,
    role: 'worker',
    image: null,
    flake: 'github:acme/images',
    profile: 'minimal',
    revision: null,
    vcpus: 2,
    memMib: 1024,
    dataDiskMib: 2048,
    counts: { running: 2, warm: 1, sleeping: 0 },
    pinned: false,
    critical: true,
    minRunningSecs: 0,
    minWarmSecs: 0,
    idleWarmAfterSecs: 0,
    idleSleepAfterSecs: 0,
    servicePorts: [],
    publish: [],
    hooks: {},
    queueScale: null,
    createdAt: T0,
    updatedAt: T0,
    version: 1,
    ...overrides,
  };
}

export function instance(id = 'w-1', host = 10, overrides: Partial<Instance> = {}): Instance {
  return {
    tenantId: 'acme',
    poolId: 'workers',
    id,
    ip: `10.240.99.${host}`,
    mac: `02:00:0a:f0:63:${host.toString(16).padStart(2, '0')}`,
    status: 'created',
    desiredStatus: 'running',
    nodeId: null,
    revision: null,
    failureReason: null,
    statusSince: T0,
    lastActiveAt: null,
    pressureSleptAt: null,
    idleSlot: null,
    createdAt: T0,
    updatedAt: T0,
    version: 1,
    ...overrides,
  };
}

export function keyOf(i: Instance): InstanceKey {
  return { tenantId: i.tenantId, poolId: i.poolId, instanceId: i.id };
}

export function node(id = 'node-1', overrides: Partial<FleetNode> = {}): FleetNode {
  return {
    id,
    hostname: `${id}.example.internal`,
    arch: 'x86_64',
    capacity: { vcpus: 32, memMib: 65536, diskGib: 1000 },
    labels: { zone: 'a', kvm: 'true' },
    status: 'ready',
    lastHeartbeat: null,
    underlayIp: null,
    usage: null,
    createdAt: T0,
    version: 1,
    ...overrides,
  };
}

export function token(id = 'tok-1', overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id,
    hash: `${id}-`.padEnd(64, '0'),
    tenantId: 'acme',
    name: `token ${id}`,
    createdAt: T0,
    revokedAt: null,
    expiresAt: null,
    lastUsedAt: null,
    ...overrides,
  };
}

/** Tenants acme (net 99) and beta (net 98); acme's pools workers and gateways, beta's workers. */
export async function insertTwoTenants(store: Store): Promise<void> {
  await store.tenants.insert(tenant('acme', 99));
  await store.tenants.insert(tenant('beta', 98));
  await store.pools.insert(pool('acme', 'workers'));
  await store.pools.insert(pool('acme', 'gateways', { role: 'gateway' }));
  await store.pools.insert(pool('beta', 'workers'));
}
