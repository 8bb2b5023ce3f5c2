import type {
  AuditEvent,
  DesiredStatus,
  FleetNode,
  Instance,
  InstanceStatus,
  Pool,
  Quotas,
  Tenant,
} from '../core/model.ts';
import type { DiskReport, InstanceSample } from '../contract/node-report.ts';
import type { Rollout } from '../core/rollout-plan.ts';
import type { IdleSlot } from '../core/idle-policy.ts';
import type { DocumentInstance } from '../core/desired-doc.ts';
import type { InstanceMove } from '../core/instance-move.ts';
import type { JobJournal, JobModuleRepo, JobQueue, JobRepo } from './job-store.ts';
import type { Build, BuildStatus, Revision } from '../core/revision.ts';

/**
 * The coordinator's durable store. Implemented once on Kysely for SQLite and Postgres.
 * Every mutation of an existing row is a compare-and-set: it names the version (or status) it
 * expects and throws ConflictError when the row moved underneath it.
 */
export interface InstanceKey {
  tenantId: string;
  poolId: string;
  instanceId: string;
}

/** A tenant as stored: the domain type itself. */
export type TenantRecord = Tenant;

/** What a tenant update may change. */
export type TenantPatch = Partial<{
  quotas: Quotas;
  egress: boolean;
  maxRunningJobs: number | null;
}>;

export interface TenantRepo {
  /** Throws AlreadyExistsError for a duplicate id, ConflictError for a duplicate netId/subnet. */
  insert(tenant: TenantRecord): Promise<void>;
  get(id: string): Promise<TenantRecord | undefined>;
  /**
   * Inside a transaction: waits for the tenant's lock, holds it until the transaction ends,
   * and returns the tenant as it then stands (undefined when it is gone). Every transaction
   * that changes a tenant's quotas, pools or instances takes it before reading any of them, so
   * no two of them interleave: a quota check and the writes it allows are one step.
   */
  lock(id: string): Promise<TenantRecord | undefined>;
  /**
   * lock() for every tenant, in id order, for work across tenants (placement, node loss).
   * Whoever holds several tenant locks takes them in id order, and before any node's.
   */
  lockAll(): Promise<void>;
  /** Every tenant, or with `ids` only those (unknown ids are skipped); in id order. */
  list(filter?: { ids?: readonly string[] }): Promise<TenantRecord[]>;
  networks(): Promise<Array<{ tenantId: string; netId: number; subnet: string }>>;
  /** CAS on version; changes only what `patch` names. */
  update(
    id: string,
    patch: TenantPatch,
    expectedVersion: number,
    at: string,
  ): Promise<TenantRecord>;
  delete(id: string): Promise<void>;
}

export type PoolPatch = Partial<
  Pick<
    Pool,
    | 'counts'
    | 'revision'
    | 'image'
    | 'flake'
    | 'profile'
    | 'pinned'
    | 'critical'
    | 'minRunningSecs'
    | 'minWarmSecs'
    | 'idleWarmAfterSecs'
    | 'idleSleepAfterSecs'
    | 'servicePorts'
    | 'publish'
    | 'hooks'
    | 'queueScale'
    | 'queueAdded'
  >
>;

export interface PoolRepo {
  /** Throws AlreadyExistsError for a duplicate (tenantId, id). */
  insert(pool: Pool): Promise<void>;
  get(tenantId: string, id: string): Promise<Pool | undefined>;
  /** By tenant and id; `tenantId` or `tenantIds` keep those tenants' pools only. */
  list(filter?: { tenantId?: string; tenantIds?: readonly string[] }): Promise<Pool[]>;
  /**
   * The tenant's pools (as `list`) and every instance of one of them as a scale weighs it (as
   * `instances.poolMembers`); `members` is undefined when the tenant has no such pool. One
   * statement where the dialect allows.
   */
  withMembers(
    tenantId: string,
    poolId: string,
  ): Promise<{ pools: Pool[]; members: PoolMember[] | undefined }>;
  /**
   * The tenant's lock (as `tenants.lock`; `tenant` undefined when there is none), then
   * `withMembers` read under it: where the dialect allows, both written at once, one round
   * trip. A failing lock fails the call with its own error.
   */
  lockedWithMembers(
    tenantId: string,
    poolId: string,
  ): Promise<{
    tenant: TenantRecord | undefined;
    pools: Pool[];
    members: PoolMember[] | undefined;
  }>;
  update(
    tenantId: string,
    id: string,
    patch: PoolPatch,
    expectedVersion: number,
    at: string,
  ): Promise<Pool>;
  /**
   * A scale's writes: the pool's `update`, then each member's compare-and-set on the version
   * read (`instances.setDesired`, or only its idle slot when the write names one), answering
   * the pool and the members as written, in `members`' order. Throws what those would: the
   * pool's error first, else the first member's in order. One statement where the dialect
   * allows; a member is written only when the pool's compare-and-set matched. `tryLock`: a
   * lock `locks.tryAcquire` would try, tried in the same statement; `locked` says whether it
   * is held (absent without `tryLock`).
   */
  updateWithMembers(
    pool: {
      tenantId: string;
      id: string;
      patch: PoolPatch;
      expectedVersion: number;
      tryLock?: string;
    },
    members: readonly MemberWrite[],
    at: string,
  ): Promise<{ pool: Pool; members: Instance[]; locked?: boolean }>;
  delete(tenantId: string, id: string): Promise<void>;
}

/**
 * One instance of a scaled pool as its scale writes it: a new desired status, or (`idleSlot`
 * set) only the slot an instance the idle policy holds lower now stands in; `version` is the
 * version read, the compare-and-set's.
 */
export interface MemberWrite {
  id: string;
  version: number;
  desiredStatus: DesiredStatus;
  idleSlot?: IdleSlot;
  /** The new desired status lowers the instance: stamped `loweredAt` (as `setDesired`'s). */
  lowering?: true;
}

export interface InstanceFilter {
  tenantId?: string;
  poolId?: string;
  nodeId?: string;
  status?: InstanceStatus;
  /** A page (contract/paging.ts): instances after this key, in key order, at most `limit`. */
  after?: InstanceKey;
  limit?: number;
}

export type InstancePatch = Partial<
  Pick<
    Instance,
    | 'nodeId'
    | 'revision'
    | 'failureReason'
    | 'desiredStatus'
    | 'lastActiveAt'
    | 'pressureSleptAt'
    | 'sleepForced'
    | 'idleSlot'
    | 'pinnedRevision'
    | 'pinnedAt'
    | 'loweredAt'
  >
>;

/** How many instances share one tenant, pool, node, status and desired status. */
export interface InstanceTally {
  tenantId: string;
  poolId: string;
  nodeId: string | null;
  status: InstanceStatus;
  desiredStatus: DesiredStatus;
  count: number;
}

/** So many of a tenant's live instances of one pool have this desired status. */
export interface DesiredCount {
  poolId: string;
  desiredStatus: DesiredStatus;
  count: number;
}

/** An instance as a change of its pool's intent weighs it (InstanceRepo.poolMembers). */
export type PoolMember = Pick<
  Instance,
  | 'tenantId'
  | 'poolId'
  | 'id'
  | 'status'
  | 'desiredStatus'
  | 'nodeId'
  | 'statusSince'
  | 'lastActiveAt'
  | 'pressureSleptAt'
  | 'idleSlot'
  | 'version'
>;

export interface InstanceRepo {
  /** Throws AlreadyExistsError for a duplicate key, ConflictError for an IP already in use. */
  insert(instance: Instance): Promise<void>;
  get(key: InstanceKey): Promise<Instance | undefined>;
  list(filter?: InstanceFilter): Promise<Instance[]>;
  /** Live instances (desired anything but destroyed) placed on no node: placement's work. */
  listUnplaced(): Promise<Instance[]>;
  /**
   * By `tenant/pool/instance`, the id of the last request that changed each instance placed
   * on the node, where one is known (instances no request changed are left out).
   */
  lastRequestIds(nodeId: string): Promise<Map<string, string>>;
  /**
   * The node's instances with only what its document says of them, and lastRequestIds(), in
   * one statement (a 1,000-instance document read them twice, every column once).
   */
  documentRows(nodeId: string): Promise<DocumentRows>;
  /**
   * The rows changed and the keys deleted since the change cursor `since`, wherever they are
   * now, in documentRows' columns, and the cursor to read from next; undefined when more
   * than `limit` changed or tombstones from `since` on may have been pruned (read in full).
   */
  documentChanges(since: number, limit: number): Promise<DocumentChanges | undefined>;
  /** Whether any instance is held asleep by memory pressure (an indexed probe, no scan). */
  anyPressureHeld(): Promise<boolean>;
  /**
   * The live instances held asleep by memory pressure or held below a raise for room
   * (`pressureSleptAt` set), oldest mark first: what the scheduler may release (indexed).
   */
  listPressureHeld(): Promise<Instance[]>;
  /**
   * The instances warm and desired warm on `nodeIds`: relief's sleep candidates, read by the
   * `(status, node_id)` index on those nodes only.
   */
  listWarmOn(nodeIds: readonly string[]): Promise<Instance[]>;
  /**
   * Whether a scheduling pass has work: a live instance placed on no node, or one held asleep
   * by memory pressure. One statement of two indexed probes (listUnplaced, anyPressureHeld).
   */
  schedulerWork(): Promise<boolean>;
  /**
   * The tenant's live instances (desired anything but destroyed) counted by pool and desired
   * status, in the store: what its quotas weigh, without reading its rows. `exceptPoolId`
   * leaves one pool out (a scale weighs that pool's own rows, which it has read).
   */
  desiredCounts(tenantId: string, options?: { exceptPoolId?: string }): Promise<DesiredCount[]>;
  /** Every instance of one pool (destroyed ones too), only the columns a scale weighs, by id. */
  poolMembers(tenantId: string, poolId: string): Promise<PoolMember[]>;
  usedIps(tenantId: string): Promise<string[]>;
  /** Instances counted by tenant, pool, node, status and desired status (for metrics). */
  tally(): Promise<InstanceTally[]>;
  /**
   * CAS on version. Clears the pressure-sleep and idle markers: whoever sets it now decides. `force`
   * marks a sleep forced; any other desired status clears the mark. `lowering`: the change
   * lowers it (to warm or sleeping), stamped `loweredAt`.
   */
  setDesired(
    key: InstanceKey,
    desired: DesiredStatus,
    expectedVersion: number,
    at: string,
    options?: { force?: boolean; lowering?: boolean },
  ): Promise<Instance>;
  /** CAS on the stored status: only moves the row if it is still `from`. */
  transition(
    key: InstanceKey,
    from: InstanceStatus,
    to: InstanceStatus,
    at: string,
    patch?: InstancePatch,
  ): Promise<Instance>;
  /** CAS on version. */
  update(
    key: InstanceKey,
    patch: InstancePatch,
    expectedVersion: number,
    at: string,
  ): Promise<Instance>;
  /** Leaves a tombstone for watchers (changesSince). */
  delete(key: InstanceKey): Promise<void>;
  /** Where a reader of changesSince starts to see what is written from now on. */
  changeCursor(): Promise<number>;
  /** Below this cursor tombstones may have been pruned: changesSince from there misses some. */
  changeHorizon(): Promise<number>;
  /** Prunes the tombstones of instances deleted before `deletedBefore` (ISO); moves the horizon. */
  pruneTombstones(deletedBefore: string, at: string): Promise<{ pruned: number; horizon: number }>;
  /**
   * The instances written and deleted since the cursor `since`, in the order they were
   * stamped, and the cursor to read from next (docs/api.md, "Watching instances").
   */
  changesSince(
    since: number,
    scope?: { tenantId?: string; poolId?: string },
  ): Promise<InstanceChanges>;
}

export interface InstanceChanges {
  /** Each changed row as it is now, or a deleted one as it last was. */
  changes: { instance: Instance; deleted: boolean }[];
  next: number;
}

/** What a heartbeat or the loss detector changes on a node. */
export type NodePatch = Partial<
  Pick<FleetNode, 'status' | 'lastHeartbeat' | 'capacity' | 'usage' | 'underlayIp' | 'lostFrom'>
>;

export interface NodeRepo {
  upsert(node: FleetNode): Promise<FleetNode>;
  get(id: string): Promise<FleetNode | undefined>;
  /** Every node, or with `ids` only those (unknown ids are skipped); in id order. */
  list(filter?: { ids?: readonly string[] }): Promise<FleetNode[]>;
  /** CAS on version; throws NotFoundError for an unknown node. */
  update(id: string, patch: NodePatch, expectedVersion: number): Promise<FleetNode>;
  /**
   * The common heartbeat in one statement: records its time and usage (and bumps the version)
   * only when the node exists, is not lost, still has `capacity` and, when `underlayIp` is
   * given, that underlay; otherwise changes nothing and answers undefined.
   */
  beat(id: string, fields: NodeBeat): Promise<FleetNode | undefined>;
  /**
   * What every node holds, per tenant and pool; kept by the store (migration 0019). With
   * `tenantIds`, only those tenants' rows.
   */
  allocations(filter?: { tenantIds?: readonly string[] }): Promise<NodeAllocation[]>;
  /**
   * What each node's running and warm instances hold by their pools' sizes, summed in the
   * store from the allocations (one row per node holding anything, where allocations() has
   * one per node, tenant and pool). An allocation whose pool is gone counts nothing. With
   * `nodeIds`, only those nodes' rows.
   */
  loads(filter?: { nodeIds?: readonly string[] }): Promise<NodeLoad[]>;
  /**
   * These nodes (unknown ids skipped), in id order, each with what it holds as loads() sums
   * it (0 when nothing): list({ ids }) and loads({ nodeIds }) in one read, what a raise's room
   * check weighs.
   */
  withLoads(ids: readonly string[]): Promise<NodeWithLoad[]>;
  /**
   * The nodes holding live instances of each of `tenantIds` (from the allocations): one row
   * per tenant, its node ids in order, where allocations() has one per node, tenant and pool.
   * A tenant holding nothing has no row.
   */
  tenantNodes(tenantIds: readonly string[]): Promise<TenantNodes[]>;
}

/** Where one tenant's live instances are (NodeRepo.tenantNodes). */
export interface MarkChanges {
  /** Every bump stamped below it is in this answer or an earlier one. */
  cursor: number;
  marks: Map<string, number>;
}

/** One changed instance row as a document needs it, on whatever node it is now. */
export interface DocumentChangedRow {
  instance: DocumentInstance;
  requestId?: string;
}

export interface DocumentChanges {
  /** Every change stamped below it is in this answer or an earlier one. */
  cursor: number;
  rows: DocumentChangedRow[];
  /** `tenant/pool/instance` of the instances deleted since, and not there again. */
  deleted: string[];
}

export interface DocumentRows {
  instances: DocumentInstance[];
  /** By `tenant/pool/instance`, as lastRequestIds() gives them. */
  requestIds: Map<string, string>;
}

export interface TenantNodes {
  tenantId: string;
  /** Shared by the tenants on the same nodes: never changed. */
  nodeIds: readonly string[];
}

/** What a heartbeat that changes nothing else writes to its node (NodeRepo.beat). */
export interface NodeBeat {
  lastHeartbeat: string;
  capacity: FleetNode['capacity'];
  usage: NonNullable<FleetNode['usage']>;
  underlayIp?: string;
}

/** Live instances of one pool placed on one node, and how many hold vCPUs and RAM. */
export interface NodeLoad {
  nodeId: string;
  vcpus: number;
  memMib: number;
}

/** A node and what it holds (`NodeRepo.withLoads`). */
export interface NodeWithLoad {
  node: FleetNode;
  held: { vcpus: number; memMib: number };
}

export interface NodeAllocation {
  nodeId: string;
  tenantId: string;
  poolId: string;
  instances: number;
  holding: number;
}

export interface AuditRepo {
  append(event: Omit<AuditEvent, 'id'>): Promise<AuditEvent>;
  /** Newest first; with `beforeId`, only older events (the next page). */
  list(filter: { tenantId?: string; limit: number; beforeId?: number }): Promise<AuditEvent[]>;
  /** Oldest first: events with an id above `afterId`, at most `limit`. */
  since(filter: { tenantId?: string; afterId: number; limit: number }): Promise<AuditEvent[]>;
}

export interface TokenRecord {
  id: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  hash: string;
  /** null = admin scope. */
  tenantId: string | null;
  name: string;
  createdAt: string;
  revokedAt: string | null;
  /** Refused from this time on; null = never expires. */
  expiresAt: string | null;
  /** When a request last authenticated with it, to the minute (see TokenRepo.touch). */
  lastUsedAt: string | null;
}

export interface TokenRepo {
  insert(token: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  findByHash(hash: string): Promise<TokenRecord | undefined>;
  /** `admin`: only admin tokens (true) or only tenant tokens (false). */
  list(filter?: { tenantId?: string; admin?: boolean }): Promise<TokenRecord[]>;
  revoke(id: string, at: string): Promise<void>;
  /**
   * Compare-and-set: records a use at `at` only if the last recorded one is older than
   * `staleBefore` (or none), so concurrent requests write it once. True when this call did.
   */
  touch(id: string, at: string, staleBefore: string): Promise<boolean>;
}

export interface NodeGeneration {
  nodeId: string;
  generation: number;
  digest: string;
  /** When this generation was issued. */
  updatedAt: string;
}

export interface GenerationRepo {
  get(nodeId: string): Promise<NodeGeneration | undefined>;
  /**
   * Compare-and-set: moves the node to the next generation only when `digest` differs from
   * the stored one (the first call starts at 1). Returns the generation that now stands for
   * `digest`, whether this call or an earlier one (maybe another replica's) issued it.
   */
  bump(nodeId: string, digest: string, at: string): Promise<NodeGeneration>;
  /**
   * Moves each scope's document mark forward by one (core/document-marks.ts). With `audit`,
   * also appends the write's audit event (in the same statement where the dialect allows).
   */
  markChanged(scopes: readonly string[], audit?: Omit<AuditEvent, 'id'>): Promise<void>;
  /**
   * `markChanged`, then whether the scheduler has work (`instances.schedulerWork`), as this
   * transaction sees it after its writes: on Postgres in the marks' statement when a scope
   * moves (one round trip for both). A write that ends with it and is answered false needs no
   * pass after its commit: any work another write leaves is followed by that write's own pass.
   * It is the transaction's last statement: on Postgres the commit is written with it, so the
   * transaction runs nothing after it (another statement fails) and commits once it succeeds.
   */
  markChangedProbing(scopes: readonly string[], audit?: Omit<AuditEvent, 'id'>): Promise<boolean>;
  /** The sum of the scopes' marks: it moves whenever any of them was bumped. */
  marks(scopes: readonly string[]): Promise<number>;
  /** Every scope's mark (one row per node, tenant and the fleet). */
  allMarks(): Promise<Map<string, number>>;
  /**
   * The marks moved since the cursor `since` (each with its value now) and the cursor to read
   * from next; undefined when more than `limit` moved (read them all).
   */
  marksSince(since: number, limit: number): Promise<MarkChanges | undefined>;
  /** The marks of these scopes only, read now; a scope never bumped is absent (0). */
  marksOf(scopes: readonly string[]): Promise<Map<string, number>>;
}

export interface JoinTokenRecord {
  id: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  hash: string;
  /** The only node id this token may join as; null = any node not yet registered. */
  nodeId: string | null;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
}

export interface JoinTokenRepo {
  insert(token: JoinTokenRecord): Promise<void>;
  findByHash(hash: string): Promise<JoinTokenRecord | undefined>;
  /**
   * Compare-and-set single use: marks the token used at `at` only if it is unused, unexpired
   * at `at` and not bound to another node. True when this call used it.
   */
  consume(id: string, nodeId: string, at: string): Promise<boolean>;
}

/** Which WebSocket route a session ticket opens (docs/exec.md, "Tickets"). */
export type SessionTicketKind = 'exec' | 'logs';

/** A single-use ticket for one session on one instance; only its secret's hash is stored. */
export interface SessionTicketRecord {
  id: string;
  hash: string;
  tenantId: string;
  poolId: string;
  instanceId: string;
  kind: SessionTicketKind;
  /** The scope of the token that minted it: its tenant, or null for an admin token. */
  scopeTenantId: string | null;
  tokenId: string | null;
  tokenName: string;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
}

export interface SessionTicketRepo {
  insert(ticket: SessionTicketRecord): Promise<void>;
  findByHash(hash: string): Promise<SessionTicketRecord | undefined>;
  /**
   * Compare-and-set single use: marks the ticket used at `at` only if it is unused and
   * unexpired at `at`. True when this call used it: of racing uses exactly one wins.
   */
  consume(id: string, at: string): Promise<boolean>;
  /** Removes tickets that expired before `before`; returns how many. */
  purgeExpired(before: string): Promise<number>;
}

export interface NodeCertificateRecord {
  serial: string;
  nodeId: string;
  fingerprint: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
}

export interface NodeCertificateRepo {
  /** Throws AlreadyExistsError for a duplicate serial. */
  insert(cert: NodeCertificateRecord): Promise<void>;
  get(serial: string): Promise<NodeCertificateRecord | undefined>;
  list(nodeId: string): Promise<NodeCertificateRecord[]>;
  /** Revokes every unrevoked certificate of the node; returns how many it revoked. */
  revokeNode(nodeId: string, at: string): Promise<number>;
}

/** A node's latest account of its disk and its instances (contract/node-report.ts). */
export interface NodeReport {
  nodeId: string;
  reportedAt: string;
  disk: DiskReport | null;
  instances: InstanceSample[];
}

/** Which agent run's report, and which of its reports (contract/heartbeat.ts ReportSeq). */
export interface ReportSequence {
  epoch: string;
  seq: number;
}

/** A delta heartbeat's report: merged into the stored one when that is report `base`. */
export interface NodeReportDelta extends ReportSequence {
  nodeId: string;
  reportedAt: string;
  base: number;
  /** Samples that replace (or add) theirs whole. */
  changed: InstanceSample[];
  removed: Array<{ tenant: string; pool: string; instance: string }>;
  /** Absent: the stored disk stays. */
  disk?: DiskReport;
}

export interface NodeReportRepo {
  get(nodeId: string): Promise<NodeReport | undefined>;
  /**
   * Replaces the node's report (the latest heartbeat wins). With a sequence, not when the
   * stored report is a later one of the same run (a late, reordered beat).
   */
  put(report: NodeReport, sequence?: ReportSequence): Promise<void>;
  /**
   * One statement: applies the delta when the stored report is `base` of the same epoch and
   * moves it to `seq`; false (and nothing changed) otherwise.
   */
  merge(delta: NodeReportDelta): Promise<boolean>;
}

/** What the common heartbeat writes of its report (NodeReportRepo.put or merge). */
export type ReportWrite =
  { whole: NodeReport; sequence?: ReportSequence } | { delta: NodeReportDelta };

/** The common heartbeat's outcome (HeartbeatRepo.beat). */
export interface QuickBeat {
  node: FleetNode;
  /** False when a delta found another base (the report is unchanged); always true for a whole one. */
  kept: boolean;
  /** The node's document generation as stored (0: none issued). */
  generation: number;
}

/**
 * The common heartbeat in one go (docs/scale.md, "One statement per heartbeat, and drifting
 * gauges"): NodeRepo.beat, then the report's put or merge only when the beat applied, then
 * the node's generation. One statement on Postgres; on SQLite the three in turn (inside
 * Store.batch's one commit).
 */
export interface HeartbeatRepo {
  /** Undefined, and nothing written, when the beat does not apply (NodeRepo.beat). */
  beat(id: string, fields: NodeBeat, report: ReportWrite): Promise<QuickBeat | undefined>;
}

/**
 * Exclusion across coordinator replicas: the scheduler runs on one at a time, and tenant
 * networks are allocated one at a time.
 */
export interface LockRepo {
  /** Inside a transaction: true if this transaction now holds `name` until it ends. */
  tryAcquire(name: string): Promise<boolean>;
  /** Inside a transaction: waits until this transaction holds `name`, until it ends. */
  acquire(name: string): Promise<void>;
}

/**
 * A secret as stored: sealed with AES-256-GCM (coordinator/secrets/secret-box.ts). The value
 * is never held here in clear; `keyId` names the master key that sealed it.
 */
export interface SealedSecret {
  tenantId: string;
  /** null: the whole tenant. */
  poolId: string | null;
  name: string;
  /** 1 when first set, +1 on every later set or rotation. */
  version: number;
  keyId: string;
  /** base64 of the 96-bit nonce. */
  nonce: string;
  /** base64 of the ciphertext and its 16-byte tag. */
  ciphertext: string;
  createdAt: string;
  updatedAt: string;
}

export interface SecretRef {
  tenantId: string;
  poolId: string | null;
  name: string;
}

export interface SecretRepo {
  /** A tenant's secrets of both scopes, tenant-wide first, then by pool and name. */
  list(tenantId: string): Promise<SealedSecret[]>;
  /** list() for several tenants in one read: by tenant, then as list() orders them. */
  ofTenants(tenantIds: readonly string[]): Promise<SealedSecret[]>;
  get(ref: SecretRef): Promise<SealedSecret | undefined>;
  /** Inserts or replaces the secret `ref` names (the caller holds the tenant's lock). */
  put(secret: SealedSecret): Promise<void>;
  /** True when there was one. */
  delete(ref: SecretRef): Promise<boolean>;
  /** A pool's own secrets (`poolId`), or every secret of the tenant; returns how many. */
  deleteAll(tenantId: string, poolId?: string): Promise<number>;
  /** The ids of the master keys that sealed something, with how many each. */
  keyUse(): Promise<Array<{ keyId: string; count: number }>>;
  /** Secrets sealed under any key but `keyId`, across tenants (master key rotation). */
  sealedUnder(notKeyId: string): Promise<SealedSecret[]>;
  /** Replaces a secret's sealing only if it is still sealed as `previous` (CAS). */
  reseal(
    previous: SealedSecret,
    next: Pick<SealedSecret, 'keyId' | 'nonce' | 'ciphertext'>,
  ): Promise<void>;
}

/** A pool's config files, current version only. */
export interface PoolConfigRecord {
  tenantId: string;
  poolId: string;
  version: number;
  files: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface PoolConfigRepo {
  get(tenantId: string, poolId: string): Promise<PoolConfigRecord | undefined>;
  list(tenantId: string): Promise<PoolConfigRecord[]>;
  /** list() for several tenants in one read, by tenant and pool. */
  ofTenants(tenantIds: readonly string[]): Promise<PoolConfigRecord[]>;
  /**
   * Compare-and-set: stores `record` (whose version is one above `expectedVersion`) only if
   * the stored version is `expectedVersion` (0: none stored yet).
   */
  put(record: PoolConfigRecord, expectedVersion: number): Promise<PoolConfigRecord>;
  delete(tenantId: string, poolId: string): Promise<void>;
}

export interface RevisionRepo {
  /** Throws AlreadyExistsError when the pool already has this revision. */
  insert(revision: Revision): Promise<void>;
  get(tenantId: string, poolId: string, id: string): Promise<Revision | undefined>;
  /** A pool's revisions, newest first. */
  list(tenantId: string, poolId: string): Promise<Revision[]>;
  /** Revisions with this id in any pool (the same content may be recorded by several). */
  withId(id: string): Promise<Revision[]>;
  /** Revisions of the given pools (`tenant/pool` keys). */
  ofPools(pools: ReadonlyArray<{ tenantId: string; poolId: string }>): Promise<Revision[]>;
  /** Every revision (artifact collection on the coordinator). */
  all(): Promise<Revision[]>;
  /** Removes a pool's revisions; returns how many. */
  deleteAll(tenantId: string, poolId: string): Promise<number>;
}

/** What finishing a build records. */
export type BuildOutcome = Pick<Build, 'status' | 'revisionId' | 'error' | 'log' | 'finishedAt'>;

export interface BuildRepo {
  insert(build: Build): Promise<void>;
  get(id: string): Promise<Build | undefined>;
  /** A pool's builds, newest first. */
  list(tenantId: string, poolId: string): Promise<Build[]>;
  /** Compare-and-set: finishes the build only if it is still `running`; false otherwise. */
  finish(
    id: string,
    outcome: BuildOutcome & { status: Exclude<BuildStatus, 'running'> },
  ): Promise<boolean>;
  /** Builds still marked running (a coordinator start fails them: nobody runs them anymore). */
  running(): Promise<Build[]>;
  deleteAll(tenantId: string, poolId: string): Promise<number>;
}

/** A pool's latest rollout (core/rollout-plan.ts). */
export interface RolloutRepo {
  get(tenantId: string, poolId: string): Promise<Rollout | undefined>;
  /** Rollouts still acting (running or rolling back), every pool. */
  active(): Promise<Rollout[]>;
  /**
   * Compare-and-set on version: `expectedVersion` 0 replaces whatever finished rollout the
   * pool had with a new one. Throws ConflictError when the stored version moved.
   */
  put(rollout: Rollout, expectedVersion: number): Promise<Rollout>;
  delete(tenantId: string, poolId: string): Promise<void>;
}

/** Moves of sleeping instances between nodes (core/instance-move.ts). */
export interface InstanceMoveRepo {
  /** Throws AlreadyExistsError when a move of the same instance is under way. */
  insert(move: InstanceMove): Promise<InstanceMove>;
  get(id: string): Promise<InstanceMove | undefined>;
  /** The instance's move not yet done or failed. */
  activeFor(
    tenantId: string,
    poolId: string,
    instanceId: string,
  ): Promise<InstanceMove | undefined>;
  /** Moves not yet done or failed from or to the node, oldest first. */
  activeOn(nodeId: string): Promise<InstanceMove[]>;
  /** Compare-and-set on version; the stored version goes up by one. Throws ConflictError. */
  update(move: InstanceMove, expectedVersion: number): Promise<InstanceMove>;
}

export interface Repos {
  locks: LockRepo;
  tenants: TenantRepo;
  pools: PoolRepo;
  instances: InstanceRepo;
  nodes: NodeRepo;
  audit: AuditRepo;
  tokens: TokenRepo;
  generations: GenerationRepo;
  joinTokens: JoinTokenRepo;
  nodeCertificates: NodeCertificateRepo;
  nodeReports: NodeReportRepo;
  heartbeats: HeartbeatRepo;
  secrets: SecretRepo;
  poolConfigs: PoolConfigRepo;
  jobs: JobRepo;
  jobModules: JobModuleRepo;
  jobQueue: JobQueue;
  jobJournal: JobJournal;
  revisions: RevisionRepo;
  builds: BuildRepo;
  rollouts: RolloutRepo;
  instanceMoves: InstanceMoveRepo;
  sessionTickets: SessionTicketRepo;
}

export interface Store extends Repos {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs `fn` in one database transaction; repos passed in are bound to it. A transaction the
   * database aborted for a deadlock runs again, so `fn` may run more than once: it must change
   * nothing but through those repos. On SQLite it holds the write lock from its start.
   */
  transaction<T>(fn: (repos: Repos) => Promise<T>): Promise<T>;
  /**
   * Runs `fn`, whose writes need not be atomic together, as cheaply as the store allows: in
   * one transaction on SQLite (one commit, one WAL sync, instead of one per write), statement
   * by statement on Postgres (no connection held between them while this process does other
   * work). `fn` must be correct either way, and may run more than once.
   */
  batch<T>(fn: (repos: Repos) => Promise<T>): Promise<T>;
  /**
   * Runs `fn`'s reads, outside any transaction, on one connection: on Postgres those it issues
   * without awaiting each other go out together and are answered in order (one round trip for
   * all of them; each statement still its own snapshot, run in the order issued). On SQLite
   * the store itself. `fn` must only read, through the repos it is given.
   */
  reads<T>(fn: (repos: Repos) => Promise<T>): Promise<T>;
  /**
   * `tokens.findByHash` for authenticating a request, cached briefly: a revocation through
   * this Store object is seen by the next call, one through another process (a replica)
   * within the cache's TTL (1 s by default).
   */
  authToken(hash: string): Promise<TokenRecord | undefined>;
  /** `nodeCertificates.get` for authenticating a node's request, cached as authToken. */
  authCertificate(serial: string): Promise<NodeCertificateRecord | undefined>;
  close(): Promise<void>;
}
