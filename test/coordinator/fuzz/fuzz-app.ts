import { encodeCursor } from '../../../src/core/page-cursor.ts';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RouteName } from '../../../src/contract/api.ts';
import type { CoordinatorApp } from '../../../src/coordinator/app.ts';
import type { PeerCertificate } from '../../../src/coordinator/node-auth.ts';
import { OpensslCa } from '../../../src/drivers/pki/openssl-ca.ts';
import { createCsr } from '../../../src/drivers/pki/openssl-csr.ts';
import { newEcPrivateKeyPem } from '../../../src/drivers/pki/key-files.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import type { Store } from '../../../src/ports/store.ts';
import { coordinatorWorld } from '../../support/coordinator-world.ts';

/**
 * A real coordinator app over a test store with everything a route can name: a tenant with
 * a pool of placed instances, a node joined through the real CA (so node-certificate routes
 * are reachable), a tenant token. The fuzz sends every request as admin, so permission never
 * short-circuits validation; a request carrying FUZZ_PEER_HEADER is also taken to present
 * the node's client certificate, as the TLS layer would report it.
 */
export const FUZZ_ADMIN = 'fuzz-admin-token-0123456789abcdef-5f3a9c1e7b2d4068';
export const FUZZ_PEER_HEADER = 'x-fuzz-peer-certificate';
export const TENANT = 'ft';
export const POOL = 'fp';
export const NODE = 'fn';

export interface RouteInput {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

export interface FuzzApp {
  app: CoordinatorApp['app'];
  /** A valid input for every route with params, query or body. */
  baselines: Partial<Record<RouteName, RouteInput>>;
  close(): Promise<void>;
}

const facts = {
  hostname: 'fuzz-1',
  arch: 'x86_64',
  capacity: { vcpus: 8, memMib: 16384, diskGib: 100 },
};

async function ok(app: CoordinatorApp['app'], method: string, path: string, body?: unknown) {
  const response = await app.request(`/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${FUZZ_ADMIN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`fixture ${method} ${path}: ${JSON.stringify(json)}`);
  return json;
}

export async function startFuzzApp(store: Store): Promise<FuzzApp> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-fuzz-'));
  const runner = new NodeProcessRunner();
  const ca = await OpensslCa.loadOrCreate(join(dir, 'ca'), runner);
  // Known once the node has joined; the app asks per request.
  const peer: { certificate?: PeerCertificate } = {};
  let suffix = 0;
  const { app } = await coordinatorWorld(store, {
    admin: FUZZ_ADMIN,
    version: 'fuzz',
    randomSuffix: () => `z${(suffix += 1)}`,
    ca,
    peerCertificate: (c) =>
      c.req.header(FUZZ_PEER_HEADER) === undefined ? undefined : peer.certificate,
  });
  const issued = await ok(app, 'POST', '/nodes/join-tokens', { nodeId: NODE });
  const csrPem = await createCsr(runner, newEcPrivateKeyPem(), NODE);
  const joined = await ok(app, 'POST', '/nodes/join', {
    ...facts,
    token: issued.token,
    nodeId: NODE,
    csrPem,
  });
  const certificatePem = (joined.certificate as { certificatePem: string }).certificatePem;
  peer.certificate = { authorized: true, der: new X509Certificate(certificatePem).raw };
  await ok(app, 'POST', '/tenants', { id: TENANT, netId: 5 });
  await ok(app, 'POST', `/tenants/${TENANT}/pools`, {
    id: POOL,
    flake: '.',
    profile: 'minimal',
    vcpus: 1,
    memMib: 256,
  });
  const scaled = await ok(app, 'POST', `/tenants/${TENANT}/pools/${POOL}/scale`, { running: 2 });
  const instance = (scaled.created as Array<{ id: string }>)[0]?.id ?? 'missing';
  await ok(app, 'POST', '/scheduler/run');
  await ok(app, 'POST', `/tenants/${TENANT}/tokens`, { name: 'fuzz' });
  await ok(app, 'POST', `/tenants/${TENANT}/secrets`, { values: { ROT: 'fuzz-secret-1' } });
  const submitted = await ok(app, 'POST', `/tenants/${TENANT}/jobs`, {
    pool: POOL,
    wasm: FUZZ_WASM,
  });
  const job = (submitted.job as { id: string }).id;
  return {
    app,
    baselines: baselines(instance, csrPem, job),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

const space = (count: number, kib: number) => ({ count, kib });
const fuzzDisk = {
  dataDir: { path: '/var/lib/mvm', totalKib: 1 << 20, freeKib: 1 << 19 },
  cacheDir: { path: '/var/cache/mvm', totalKib: 1 << 20, freeKib: 1 << 19 },
  tenants: [
    {
      tenant: TENANT,
      instances: 1,
      dataDisks: space(1, 1024),
      snapshots: space(0, 0),
      other: space(2, 64),
      revisions: ['dev'],
    },
  ],
  artifacts: {
    images: space(1, 60_000),
    initDrives: space(1, 3_000),
    kernels: space(1, 90_000),
    guestAgents: space(1, 800),
    other: space(0, 0),
  },
  orphans: space(0, 0),
};

/** The smallest module ABI v1 accepts (memory from mvm, `run` returning 0), base64. */
const FUZZ_WASM = 'AGFzbQEAAAABBQFgAAF/AhABA212bQZtZW1vcnkCAQEQAwIBAAcHAQNydW4AAAoGAQQAQQAL';

function baselines(instance: string, csrPem: string, job: string): FuzzApp['baselines'] {
  const tenant = { tenant: TENANT };
  const pool = { ...tenant, pool: POOL };
  const node = { node: NODE };
  return {
    createTenant: {
      body: { id: 'fz-new', netId: 9, subnet: '10.240.9.0/24', quotas: { maxRunning: 3 } },
    },
    getTenant: { params: tenant },
    updateTenant: { params: tenant, body: { quotas: { maxRunning: 8 }, expectedVersion: 1 } },
    destroyTenant: { params: tenant, query: { force: 'true' } },
    createToken: { params: tenant, body: { name: 'fuzz token' } },
    listTokens: { params: tenant },
    createPool: {
      params: tenant,
      body: {
        id: 'fz',
        role: 'worker',
        flake: 'github:org/images',
        profile: 'minimal',
        revision: 'dev',
        vcpus: 1,
        memMib: 256,
        dataDiskMib: 1024,
        pinned: false,
        critical: false,
        minRunningSecs: 0,
        minWarmSecs: 0,
      },
    },
    listPools: { params: tenant },
    getPool: { params: pool },
    updatePool: {
      params: pool,
      body: { pinned: true, critical: false, minRunningSecs: 10, minWarmSecs: 10, revision: 'dev' },
    },
    scalePool: { params: pool, body: { running: 2, warm: 0, sleeping: 0, expectedVersion: 1 } },
    destroyPool: { params: pool, query: { force: 'true' } },
    listInstances: {
      query: {
        tenant: TENANT,
        pool: POOL,
        node: NODE,
        status: 'running',
        limit: '5',
        cursor: encodeCursor([TENANT, POOL, 'a']),
      },
    },
    getInstance: { params: { ...pool, instance } },
    instanceAction: { params: { ...pool, instance }, body: { action: 'warm', expectedVersion: 1 } },
    getNode: { params: node },
    registerNode: {
      params: node,
      body: { ...facts, labels: { zone: 'a', 'mvm.dev/kvm': 'true' }, underlayIp: '192.168.7.1' },
    },
    reportInstanceStatus: {
      params: { ...node, ...pool, instance },
      body: { status: 'failed', expectedStatus: 'created', failureReason: 'boot\nfailed' },
    },
    reportInstanceWake: {
      params: { ...node, ...pool, instance },
      body: { trigger: 'connect', port: 8080, from: '10.240.1.3', source: 'tenant' },
    },
    nodeHeartbeat: {
      params: node,
      body: {
        capacity: facts.capacity,
        usage: { vcpus: 1, memMib: 256, instances: { running: 1 }, diskFreeMib: 100 },
        instances: [
          {
            tenant: TENANT,
            pool: POOL,
            instance,
            lastActiveAt: '2026-01-01T00:00:00Z',
            status: 'running',
            pid: 4242,
            tap: 'mvt5-2',
            cpuPermille: 120,
            rssKib: 262144,
            diskKib: 1024,
            snapshotKib: 0,
          },
        ],
        underlayIp: '192.168.7.1',
        disk: fuzzDisk,
      },
    },
    watchNodeDesired: { params: node, query: { after: '0', waitMs: '0' } },
    createJoinToken: { body: { nodeId: 'fz-join', ttlSeconds: 60 } },
    joinNode: { body: { ...facts, token: 'mvmj_not-a-token', nodeId: 'fz-join', csrPem } },
    rotateNodeCertificate: { params: node, body: { csrPem } },
    revokeNode: { params: node },
    cordonNode: { params: node },
    uncordonNode: { params: node },
    drainPlan: { params: node },
    getMove: { params: { move: 'mv-fuzz' } },
    nodeMoves: { params: node },
    reportMove: {
      params: { ...node, move: 'mv-fuzz' },
      body: { kind: 'received', part: 'data.ext4', bytes: 1 },
    },
    moveInstance: { params: { ...pool, instance }, body: { node: NODE, wake: false } },
    listEvents: { query: { tenant: TENANT, last: '10', limit: '5', cursor: encodeCursor(['99']) } },
    getNodeReport: { params: node },
    getInstanceStats: { params: { ...pool, instance } },
    createSessionTicket: { params: { ...pool, instance }, body: { session: 'exec' } },
    listSecrets: { params: tenant, query: { pool: POOL } },
    setSecrets: { params: tenant, body: { pool: POOL, values: { API_KEY: 'v1', OTHER: 'a\nb' } } },
    rotateSecrets: { params: tenant, body: { values: { ROT: 'fuzz-secret-2' } } },
    unsetSecrets: { params: tenant, body: { pool: POOL, names: ['API_KEY'] } },
    nodeSecrets: { params: { ...node, ...pool } },
    getPoolConfig: { params: pool },
    setPoolConfig: {
      params: pool,
      body: { files: { 'gateway.json': '{"a":1}\n' }, replace: false, expectedVersion: 0 },
    },
    unsetPoolConfig: { params: pool, body: { names: ['gateway.json'], expectedVersion: 1 } },
    submitJob: {
      params: tenant,
      body: {
        pool: POOL,
        wasm: FUZZ_WASM,
        input: '{"n":1}',
        priority: 1,
        maxAttempts: 2,
        timeoutSecs: 60,
        key: 'fuzz-1',
      },
    },
    listJobs: { params: tenant, query: { pool: POOL, state: 'queued', limit: '10' } },
    getJob: { params: { ...tenant, job } },
    jobLogs: { params: { ...tenant, job } },
    cancelJob: { params: { ...tenant, job } },
    retryJob: { params: { ...tenant, job } },
    claimJobs: {
      params: node,
      body: { tenant: TENANT, pool: POOL, worker: instance, limit: 2, leaseMs: 5000, waitMs: 0 },
    },
    heartbeatJob: { params: { ...node, job }, body: { token: 'not-the-token', leaseMs: 5000 } },
    completeJob: {
      params: { ...node, job },
      body: { outcome: 'succeeded', token: 'not-the-token', result: '{"ok":true}' },
    },
    jobModule: { params: { ...node, job }, body: { token: 'not-the-token' } },
    jobJournal: { params: { ...node, job }, body: { token: 'not-the-token' } },
    recordEffect: {
      params: { ...node, job },
      body: {
        token: 'not-the-token',
        seq: 0,
        op: 'now',
        requestHash: 'a'.repeat(64),
        request: '{}',
        idempotent: false,
      },
    },
    markEffectSent: { params: { ...node, job, seq: '0' }, body: { token: 'not-the-token' } },
    completeEffect: {
      params: { ...node, job, seq: '0' },
      body: { token: 'not-the-token', response: '{"now":1}' },
    },
    parkJob: {
      params: { ...node, job },
      body: { token: 'not-the-token', runAt: '2030-01-01T00:00:00Z' },
    },
    // WebSocket routes: the fuzz's plain requests are validated, then refused (no upgrade).
    nodeTunnel: { params: node },
    execInstance: { params: { ...pool, instance } },
    instanceLogs: { params: { ...pool, instance } },
    workerExec: { params: { ...node, ...pool, instance }, query: { worker: 'agent:main:main' } },
  };
}

/**
 * Valid requests the fuzz does not send: they would remove what the rest of the run needs
 * (the tenant, pool, instance or node certificate), or long-poll for seconds, or stream.
 */
export function notToSend(route: RouteName, query: Record<string, string>, body: unknown): boolean {
  const fields = (body ?? {}) as Record<string, unknown>;
  // Cordoning would keep the run's node from taking the placements the rest needs.
  if (['destroyTenant', 'destroyPool', 'revokeNode', 'cordonNode', 'uncordonNode'].includes(route))
    return true;
  if (route === 'instanceAction' && fields.action === 'destroy') return true;
  if (route === 'reportInstanceStatus' && fields.status === 'destroyed') return true;
  if (route === 'claimJobs' && Number(fields.waitMs ?? 0) > 50) return true;
  // A stream of events that ends only when the client goes away.
  if (route === 'followEvents' || route === 'watchInstances') return true;
  return route === 'watchNodeDesired' && Number(query.waitMs ?? 0) > 50;
}
