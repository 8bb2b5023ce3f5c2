/**
 * Builds a large fleet fast for the scale benches: nodes, tenants and pools through the real
 * API, then the instances in bulk straight into the store (placed, running), so 100k rows take
 * seconds rather than the hours 100k API calls would. The instances are what the API would
 * have made: unique addresses in each tenant's subnet, unique MACs, pool counts to match.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FLEET_SCOPE } from '../../src/core/document-marks.ts';
import { changeStamp } from '../../src/db/repos/instance-changes.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import { withDatabase } from '../../src/db/store-url.ts';
import { CompiledStatements } from '../../src/db/compiled-statement.ts';
import { KyselyGenerationRepo } from '../../src/db/repos/generation-repo.ts';
import type { InstancesTable } from '../../src/db/schema.ts';
import { jsonClient, type JsonClient } from './http-json.ts';

export type StoreName = 'sqlite' | 'postgres';

export interface FleetShape {
  nodes: number;
  tenants: number;
  /** Instances per tenant (one pool each); at most 250 (a tenant's /24). */
  perTenant: number;
  /**
   * Packed: the instances fill the nodes in order, this many each (a tenant on few nodes).
   * Absent: spread round-robin, so every tenant has instances on many nodes.
   */
  perNode?: number;
}

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

const pgUrl = () => process.env['MVM_TEST_PG_URL'] ?? 'postgres://mvm:mvm@127.0.0.1:5432/postgres';

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pgUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database of the given kind. */
export async function freshDatabase(store: StoreName): Promise<BenchDatabase> {
  if (store === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-bench-scale-'));
    return { url: join(dir, 'c.sqlite'), drop: () => rm(dir, { recursive: true, force: true }) };
  }
  const name = `mvm_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  return {
    // Any form of Postgres URL, the Unix socket's `postgres://u:p@/db?host=DIR` included.
    url: withDatabase(pgUrl(), name),
    drop: async () => {
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

export type Api = (method: string, path: string, body?: unknown) => Promise<unknown>;

/**
 * Calls over node:http (http-json.ts, a keep-alive pool per base URL, connection resets
 * retried: every call the benches make is idempotent). The burst's clients are load, not what
 * is measured: undici's `fetch` spent ~0.3 ms more of this process's CPU a call than node:http
 * (docs/scale.md, "The load generator's share"), CPU the coordinator and Postgres share here.
 */
export function apiOf(baseUrl: string, token: string): Api {
  const key = `${baseUrl} ${token}`;
  let client = clients.get(key);
  if (!client) {
    client = jsonClient(baseUrl, token, 64);
    clients.set(key, client);
  }
  const { call } = client;
  return (method, path, body) => call(method, path, body);
}

const clients = new Map<string, JsonClient>();

export const nodeId = (n: number) => `node-${String(n).padStart(4, '0')}`;
export const tenantId = (t: number) => `t${String(t).padStart(4, '0')}`;

/** Quotas no bench tenant reaches: the fleet's size is the bench's, never a tenant's limit. */
export const quotas = {
  maxVcpus: 100_000,
  maxMemMib: 1_000_000,
  maxRunning: 1000,
  maxWarm: 1000,
  maxInstancesPerPool: 1000,
};

export const nodeCapacity = { vcpus: 1_000_000, memMib: 1_000_000_000, diskGib: 100_000 };

/** Registers the nodes through the API (their agents must heartbeat from now on). */
export async function seedNodes(api: Api, nodes: number): Promise<void> {
  for (let n = 0; n < nodes; n += 1) {
    const body = { hostname: nodeId(n), arch: 'x86_64', capacity: nodeCapacity };
    await api('PUT', `/nodes/${nodeId(n)}`, body);
  }
}

/** Creates tenants [from, shape.tenants) and their pool `w` through the API. */
export async function seedTenants(api: Api, shape: FleetShape, from = 0): Promise<void> {
  for (let t = from; t < shape.tenants; t += 1) {
    await api('POST', '/tenants', { id: tenantId(t), netId: t + 1, quotas });
    await api('POST', `/tenants/${tenantId(t)}/pools`, {
      id: 'w',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 128,
    });
  }
}

function instanceRow(t: number, i: number, shape: FleetShape, subnetBase: string): InstancesTable {
  const at = new Date().toISOString();
  const serial = t * 256 + i;
  const node =
    shape.perNode === undefined
      ? serial % shape.nodes
      : Math.floor((t * shape.perTenant + i) / shape.perNode) % shape.nodes;
  const mac = `02:bb:${[serial >> 16, (serial >> 8) & 255, serial & 255, 0].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
  return {
    tenant_id: tenantId(t),
    pool_id: 'w',
    id: `i${String(i).padStart(4, '0')}`,
    ip: `${subnetBase}.${i + 2}`,
    mac,
    status: 'running',
    desired_status: 'running',
    node_id: nodeId(node),
    revision: 'dev',
    failure_reason: null,
    status_since: at,
    last_active_at: null,
    pressure_slept_at: null,
    sleep_forced: 0,
    idle_slot: null,
    pinned_revision: null,
    pinned_at: null,
    created_at: at,
    updated_at: at,
    version: 1,
  };
}

/**
 * Inserts `perTenant` running instances for tenants [from, tenants), in batches, then bumps
 * the fleet's document mark as a commit through another replica would: the coordinator's
 * watchers recompute their documents now rather than at their 30 s refresh.
 */
export async function seedInstances(url: string, shape: FleetShape, from = 0): Promise<void> {
  const { db } = openDatabase(url);
  try {
    const subnets = await db.selectFrom('tenants').select(['id', 'subnet']).execute();
    const baseOf = new Map(subnets.map((s) => [s.id, s.subnet.split('.').slice(0, 3).join('.')]));
    let batch: InstancesTable[] = [];
    const flush = async () => {
      // Stamped as the repo's writes are (instance-changes.ts): a row stamped 0 would be below
      // every change cursor, unseen by a document patched from its previous rows (node-rows.ts).
      const stamped = batch.map((row) => ({ ...row, change_seq: changeStamp(db) }));
      if (batch.length > 0) await db.insertInto('instances').values(stamped).execute();
      batch = [];
    };
    for (let t = from; t < shape.tenants; t += 1) {
      const base = baseOf.get(tenantId(t));
      if (base === undefined) throw new Error(`tenant ${tenantId(t)} has no subnet`);
      for (let i = 0; i < shape.perTenant; i += 1) {
        batch.push(instanceRow(t, i, shape, base));
        // SQLite binds at most 32,766 parameters per statement: 20 columns × 1,000 rows.
        if (batch.length === 1000) await flush();
      }
      await db
        .updateTable('pools')
        .set({ desired_running: shape.perTenant })
        .where('tenant_id', '=', tenantId(t))
        .execute();
    }
    await flush();
    await new KyselyGenerationRepo(db, new CompiledStatements()).markChanged([FLEET_SCOPE]);
  } finally {
    await db.destroy();
  }
}
