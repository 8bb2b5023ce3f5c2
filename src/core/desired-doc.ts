import type {
  DesiredInstance,
  DesiredPool,
  DesiredTenant,
  NodeDesired,
  SeedDocument,
  SeedPool,
  SeedTenant,
} from '../contract/desired.ts';
import { allocateInstanceAddress } from './addresses.ts';
import { materialize, newInstanceId } from './materializer.ts';
import type { Instance, Pool } from './model.ts';

/**
 * Desired-state documents, built from values: the coordinator's node document from its
 * records, and the same document from a seed file (tenants → pools → counts) through the
 * materializer the coordinator uses, so both modes feed the agent one shape. Hashing and
 * signing live outside core; this module only fixes the bytes they work on.
 */
export const NODE_DOCUMENT_SCHEMA = 'mvm.node-desired/v1';

export interface TenantNetworkInfo {
  id: string;
  netId: number;
  subnet: string;
  gateway: string;
  /** Absent: off. */
  egress?: boolean;
}

/** What a pool's entry carries beside the pool itself: its secrets digest and config. */
export interface PoolWorkload {
  secretsDigest: string | null;
  config: { version: number; files: Record<string, string> } | null;
}

/** Keyed by `tenant/pool`; a pool it does not name has neither secrets nor config. */
export type PoolWorkloads = ReadonlyMap<string, PoolWorkload>;

const NO_WORKLOAD: PoolWorkload = { secretsDigest: null, config: null };

/** What a document says of an instance placed on its node. */
export type DocumentInstance = Pick<
  Instance,
  | 'tenantId'
  | 'poolId'
  | 'id'
  | 'ip'
  | 'mac'
  | 'status'
  | 'desiredStatus'
  | 'nodeId'
  | 'sleepForced'
  | 'pinnedRevision'
>;

export interface DocumentStamp {
  generation: number;
  issuedAt: string;
}

const byId = <T extends { id: string }>(a: T, b: T): number =>
  a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/** An instance the agent has already confirmed gone needs no line in any document. */
function stillMatters(i: Pick<Instance, 'status' | 'desiredStatus'>): boolean {
  return !(i.status === 'destroyed' && i.desiredStatus === 'destroyed');
}

function desiredPool(
  pool: Pool,
  instances: DesiredInstance[],
  workload: PoolWorkload = NO_WORKLOAD,
): DesiredPool {
  // Members in canonical (sorted) order, so canonicalJson serializes it without a copy.
  return {
    config: workload.config && { files: workload.config.files, version: workload.config.version },
    critical: pool.critical,
    dataDiskMib: pool.dataDiskMib,
    flake: pool.flake,
    ...(hasHooks(pool.hooks) ? { hooks: { ...pool.hooks } } : {}),
    id: pool.id,
    instances: [...instances].sort(byId),
    memMib: pool.memMib,
    pinned: pool.pinned,
    profile: pool.profile,
    ...((pool.publish ?? []).length > 0
      ? { publish: (pool.publish ?? []).map((p) => ({ ...p })) }
      : {}),
    revision: pool.revision,
    role: pool.role,
    secretsDigest: workload.secretsDigest,
    ...(pool.servicePorts.length > 0 ? { servicePorts: [...pool.servicePorts] } : {}),
    vcpus: pool.vcpus,
  };
}

/**
 * The document for one node: every instance placed there (including those meant to be
 * destroyed), grouped by tenant and pool, each level sorted by id so equal content always
 * gives equal bytes. Tenants and pools with nothing on the node are left out. `peers` gives
 * each tenant's VXLAN flood list (tenantPeers); a tenant it does not name has none.
 * `workloads` gives each pool's secrets digest and config; `requestIds` (by
 * `tenant/pool/instance`) the id of the last request that changed each instance's entry.
 * The coordinator builds it tenant by tenant from kept parts (desired/node-document.ts):
 * each entry is `tenantEntry`'s, so both give the same bytes.
 */
export function buildNodeDocument(
  nodeId: string,
  tenants: readonly TenantNetworkInfo[],
  pools: readonly Pool[],
  instances: readonly DocumentInstance[],
  stamp: DocumentStamp,
  peers: ReadonlyMap<string, readonly string[]> = new Map(),
  workloads: PoolWorkloads = new Map(),
  requestIds: ReadonlyMap<string, string> = new Map(),
): NodeDesired {
  // Grouped once, so the document costs O(instances + pools), not instances × pools.
  const placed = groupBy(instances, (i) => i.tenantId);
  const poolsOf = groupBy(pools, (p) => p.tenantId);
  const out: DesiredTenant[] = [];
  for (const tenant of [...tenants].sort(byId)) {
    const entry = tenantEntry(nodeId, {
      tenant,
      pools: poolsOf.get(tenant.id) ?? [],
      workloads,
      instances: placed.get(tenant.id) ?? [],
      requestIds,
      peers: peers.get(tenant.id) ?? [],
    });
    if (entry) out.push(entry);
  }
  return { schema: NODE_DOCUMENT_SCHEMA, nodeId, ...stamp, tenants: out };
}

/** What one tenant's entry of a node's document is built from. */
export interface TenantEntrySource {
  tenant: TenantNetworkInfo;
  /** The tenant's pools (others are ignored). */
  pools: readonly Pool[];
  /** By `tenant/pool`; may name other tenants' pools. */
  workloads: PoolWorkloads;
  /** The tenant's instances (others are ignored); those on other nodes are left out. */
  instances: Iterable<DocumentInstance>;
  /** By `tenant/pool/instance`; may name other tenants' instances. */
  requestIds: ReadonlyMap<string, string>;
  /** Its VXLAN flood list from this node. */
  peers: readonly string[];
}

/** A tenant's entry of `nodeId`'s document; undefined when it has nothing there. */
export function tenantEntry(
  nodeId: string,
  { tenant, pools, workloads, instances, requestIds, peers }: TenantEntrySource,
): DesiredTenant | undefined {
  const placed = new Map<string, DocumentInstance[]>();
  for (const i of instances) {
    if (i.nodeId !== nodeId || i.tenantId !== tenant.id || !stillMatters(i)) continue;
    const group = placed.get(i.poolId);
    if (group) group.push(i);
    else placed.set(i.poolId, [i]);
  }
  const tenantPools: DesiredPool[] = [];
  for (const pool of [...pools].sort(byId)) {
    if (pool.tenantId !== tenant.id) continue;
    const mine = (placed.get(pool.id) ?? []).map((i) => ({
      desiredStatus: i.desiredStatus,
      ...(i.desiredStatus === 'sleeping' && i.sleepForced === true
        ? { forceSleep: true as const }
        : {}),
      id: i.id,
      ip: i.ip,
      mac: i.mac,
      ...optionalRequestId(requestIds.get(`${i.tenantId}/${i.poolId}/${i.id}`)),
      ...(i.pinnedRevision ? { revision: i.pinnedRevision } : {}),
    }));
    const workload = workloads.get(`${tenant.id}/${pool.id}`);
    if (mine.length > 0) tenantPools.push(desiredPool(pool, mine, workload));
  }
  if (tenantPools.length === 0) return undefined;
  const { id, netId, subnet, gateway } = tenant;
  const egress = tenant.egress ?? false;
  return { egress, gateway, id, netId, pools: tenantPools, subnet, vxlanPeers: [...peers] };
}

/** Items by key, each group in the items' order. */
export function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function optionalRequestId(requestId: string | undefined): { requestId?: string } {
  return requestId === undefined ? {} : { requestId };
}

/**
 * The part of a document its generation stands for: everything but the stamp. Two documents
 * with the same content are the same generation, however often they are rebuilt.
 * `tenantText` gives a tenant's `canonicalJson` (a kept one, desired/tenant-entries.ts).
 */
export function documentContent(
  doc: NodeDesired,
  tenantText: (tenant: DesiredTenant) => string = canonicalJson,
): string {
  // canonicalJson({ nodeId, schema, tenants }) with each tenant's text given: canonical text
  // is made of its members' canonical texts, so a kept tenant's text is its entry's again.
  const tenants = doc.tenants.map(tenantText).join(',');
  return `{"nodeId":${canonicalJson(doc.nodeId)},"schema":${canonicalJson(doc.schema)},"tenants":[${tenants}]}`;
}

/**
 * The signed payload, `canonicalJson({ ...doc, generation, issuedAt })`, from the document's
 * content without serializing the document again: the stamp's keys sort before every key of
 * the content (`generation` < `issuedAt` < `nodeId`), so they lead the same object.
 */
export function stampedPayload(content: string, stamp: DocumentStamp): string {
  const generation = canonicalJson(stamp.generation);
  const issuedAt = canonicalJson(stamp.issuedAt);
  return `{"generation":${generation},"issuedAt":${issuedAt},${content.slice(1)}`;
}

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/**
 * JSON with object keys sorted and no whitespace: one text per value, so a signature or digest
 * over it does not depend on how the value was built. Undefined object members are dropped,
 * as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalize(value));
}

function normalize(value: unknown): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no ${value}`);
    return value;
  }
  if (Array.isArray(value)) return normalizeArray(value as unknown[]);
  if (typeof value === 'object') return normalizeObject(value as Record<string, unknown>);
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}

/** The array itself when every item is already canonical: no copy of a large document. */
function normalizeArray(value: readonly unknown[]): Json {
  let copy: Json[] | undefined;
  for (let i = 0; i < value.length; i += 1) {
    const item = normalize(value[i]);
    if (copy) copy.push(item);
    else if (item !== value[i]) copy = [...(value.slice(0, i) as Json[]), item];
  }
  return copy ?? (value as Json);
}

/** The object itself when plain, its keys sorted, none undefined and every member canonical. */
function normalizeObject(value: Record<string, unknown>): Json {
  const keys = Object.keys(value);
  const members: Array<[string, Json]> = [];
  const proto: unknown = Object.getPrototypeOf(value);
  let same = proto === Object.prototype || proto === null;
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i] as string;
    const raw = value[key];
    if (raw === undefined) {
      same = false;
      continue;
    }
    const member = normalize(raw);
    if (member !== raw || (i > 0 && !((keys[i - 1] as string) < key))) same = false;
    members.push([key, member]);
  }
  if (same) return value as Json;
  members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(members);
}

/** What an agent already has for an instance (its local record). */
export type ExistingInstance = Pick<
  Instance,
  'tenantId' | 'poolId' | 'id' | 'ip' | 'mac' | 'status' | 'desiredStatus'
> &
  Partial<Pick<Instance, 'statusSince' | 'lastActiveAt'>>;

export interface SeedOptions extends DocumentStamp {
  nodeId: string;
  /** Random a-z0-9 suffix for each new instance id (injected: core has no randomness). */
  randomSuffix: () => string;
  /** What the pools' minimum times are measured against (ISO or ms); needed when one is set. */
  now?: string | number;
}

export interface SeedResult {
  document: NodeDesired;
  /** Existing instances whose tenant or pool the seed no longer names: tear them down. */
  removed: ExistingInstance[];
  /** When demotions put off by a minimum time fall due: apply the seed again then. */
  recheckAt?: string;
}

/**
 * Materializes a seed document for one node that runs everything in it. Existing instances
 * keep their identity and are reused first (the same materialize() as the coordinator's pool
 * scale); new ones get ids and the lowest free addresses of their tenant's subnet.
 */
export function seedToDesired(
  seed: SeedDocument,
  existing: readonly ExistingInstance[],
  options: SeedOptions,
): SeedResult {
  const live = existing.filter(stillMatters);
  const deferred: string[] = [];
  const tenants = seed.tenants.map((t) => seedTenant(t, live, options, deferred));
  const named = new Set(
    seed.tenants.flatMap((t) => t.pools.map((p) => `${t.tenantId}/${p.poolId}`)),
  );
  const removed = live.filter((i) => !named.has(`${i.tenantId}/${i.poolId}`));
  const { generation, issuedAt, nodeId } = options;
  const document: NodeDesired = {
    schema: NODE_DOCUMENT_SCHEMA,
    nodeId,
    generation,
    issuedAt,
    tenants: tenants.filter((t) => t.pools.length > 0).sort(byId),
  };
  // ISO times of one format order as text does.
  const recheckAt = deferred.sort()[0];
  return recheckAt === undefined ? { document, removed } : { document, removed, recheckAt };
}

function seedTenant(
  tenant: SeedTenant,
  live: readonly ExistingInstance[],
  options: SeedOptions,
  deferred: string[],
): DesiredTenant {
  const mine = live.filter((i) => i.tenantId === tenant.tenantId);
  const usedIps = mine.map((i) => i.ip);
  const pools = tenant.pools.map((pool) =>
    seedPool(tenant, pool, {
      existing: mine.filter((i) => i.poolId === pool.poolId),
      usedIps,
      randomSuffix: options.randomSuffix,
      now: options.now,
      deferred,
    }),
  );
  return {
    id: tenant.tenantId,
    ...tenant.network,
    // A seed describes one host: there is no other node to reach.
    vxlanPeers: [],
    egress: false,
    pools: pools.filter((p) => p.instances.length > 0).sort(byId),
  };
}

interface PoolInputs {
  existing: readonly ExistingInstance[];
  /** Shared across the tenant's pools and appended to as addresses are handed out. */
  usedIps: string[];
  randomSuffix: () => string;
  now: string | number | undefined;
  /** Appended to with each pool's recheckAt. */
  deferred: string[];
}

function seedPool(tenant: SeedTenant, pool: SeedPool, inputs: PoolInputs): DesiredPool {
  const plan = materialize({
    counts: pool.desiredCounts,
    instances: inputs.existing,
    policy: { minRunningSecs: pool.minRunningSecs ?? 0, minWarmSecs: pool.minWarmSecs ?? 0 },
    ...(inputs.now === undefined ? {} : { now: inputs.now }),
  });
  if (plan.recheckAt !== undefined) inputs.deferred.push(plan.recheckAt);
  const changes = new Map(plan.assignments.map((a) => [a.id, a.desiredStatus]));
  const instances: DesiredInstance[] = inputs.existing.map((i) => ({
    id: i.id,
    ip: i.ip,
    mac: i.mac,
    desiredStatus: changes.get(i.id) ?? i.desiredStatus,
  }));
  const ids = new Set(inputs.existing.map((i) => i.id));
  for (const desiredStatus of plan.create) {
    const id = newInstanceId(pool.poolId, ids, inputs.randomSuffix());
    const address = allocateInstanceAddress({
      subnet: tenant.network.subnet,
      netId: tenant.network.netId,
      usedIps: inputs.usedIps,
    });
    ids.add(id);
    inputs.usedIps.push(address.ip);
    instances.push({ id, ...address, desiredStatus });
  }
  return {
    id: pool.poolId,
    role: pool.role,
    flake: pool.flake ?? null,
    profile: pool.profile ?? null,
    revision: null,
    vcpus: pool.vcpus,
    memMib: pool.memMib,
    dataDiskMib: pool.dataDiskMib,
    pinned: false,
    critical: false,
    secretsDigest: null,
    config: null,
    instances: instances.sort(byId),
  };
}

export interface SeedSourcePool {
  tenantId: string;
  id: string;
  role: Pool['role'];
  flake: string | null;
  profile: string | null;
  vcpus: number;
  memMib: number;
  dataDiskMib: number;
  counts: Pool['counts'];
  minRunningSecs?: number;
  minWarmSecs?: number;
}

/**
 * The pools as one node holds them: counts are that node's placed instances by desired
 * status, and pools with nothing there are left out. Feeds seedFromState for a single host.
 */
export function poolsOnNode<P extends SeedSourcePool>(
  pools: readonly P[],
  instances: readonly Pick<Instance, 'tenantId' | 'poolId' | 'nodeId' | 'desiredStatus'>[],
  nodeId: string,
): P[] {
  const out: P[] = [];
  for (const pool of pools) {
    const counts = { running: 0, warm: 0, sleeping: 0 };
    for (const i of instances) {
      if (i.nodeId !== nodeId || i.tenantId !== pool.tenantId || i.poolId !== pool.id) continue;
      if (i.desiredStatus in counts) counts[i.desiredStatus as keyof typeof counts] += 1;
    }
    if (counts.running + counts.warm + counts.sleeping > 0) out.push({ ...pool, counts });
  }
  return out;
}

/** The seed document (schema v1) that describes the given tenants and pools. */
export function seedFromState(
  tenants: readonly TenantNetworkInfo[],
  pools: readonly SeedSourcePool[],
): SeedDocument {
  return {
    schemaVersion: 1,
    tenants: [...tenants].sort(byId).map((t) => ({
      tenantId: t.id,
      network: { netId: t.netId, subnet: t.subnet, gateway: t.gateway },
      pools: pools
        .filter((p) => p.tenantId === t.id)
        .sort(byId)
        .map((p) => ({
          poolId: p.id,
          role: p.role,
          // Written only when set: a seed's pools run the dev image whatever they say.
          ...(p.flake !== null ? { flake: p.flake } : {}),
          ...(p.profile !== null ? { profile: p.profile } : {}),
          vcpus: p.vcpus,
          memMib: p.memMib,
          dataDiskMib: p.dataDiskMib,
          desiredCounts: { ...p.counts },
          // Written only when set, so a seed of a pool without minimum times reads as before.
          ...(p.minRunningSecs ? { minRunningSecs: p.minRunningSecs } : {}),
          ...(p.minWarmSecs ? { minWarmSecs: p.minWarmSecs } : {}),
        })),
    })),
  };
}

function hasHooks(hooks: Pool['hooks']): boolean {
  return hooks !== undefined && Object.keys(hooks).length > 0;
}
