import type { Generated } from 'kysely';

/**
 * The coordinator's tables as Kysely sees them. Columns are snake_case; timestamps are ISO-8601
 * text and booleans are 0/1 integers so both dialects store and sort them the same way.
 */
export interface Database {
  tenants: TenantsTable;
  pools: PoolsTable;
  instances: InstancesTable;
  nodes: NodesTable;
  audit_events: AuditEventsTable;
  api_tokens: ApiTokensTable;
  node_generations: NodeGenerationsTable;
  join_tokens: JoinTokensTable;
  node_certificates: NodeCertificatesTable;
  node_reports: NodeReportsTable;
  secrets: SecretsTable;
  pool_configs: PoolConfigsTable;
  jobs: JobsTable;
  job_modules: JobModulesTable;
  job_effects: JobEffectsTable;
  job_kv: JobKvTable;
  revisions: RevisionsTable;
  builds: BuildsTable;
  rollouts: RolloutsTable;
  node_allocations: NodeAllocationsTable;
  node_loads: NodeLoadsTable;
  document_marks: DocumentMarksTable;
  instance_moves: InstanceMovesTable;
  session_tickets: SessionTicketsTable;
  published_ports: PublishedPortsTable;
  instance_tombstones: InstanceTombstonesTable;
  instance_change_horizon: InstanceChangeHorizonTable;
}

/** Migration 0033: below this stamp, tombstones may have been pruned (one row, id 1). */
export interface InstanceChangeHorizonTable {
  id: number;
  /** A bigint on Postgres (pg answers it as a string). */
  horizon: number | string;
  pruned_at: string;
}

/** Migration 0028: a deleted instance's last state, for watchers (instance-changes.ts). */
export interface InstanceTombstonesTable {
  tenant_id: string;
  pool_id: string;
  id: string;
  /** A bigint on Postgres (pg answers it as a string). */
  change_seq: number | string;
  deleted_at: string;
  /** JSON of the Instance as it was last stored. */
  item: string;
}

/** Migration 0020: moves of sleeping instances between nodes (core/instance-move.ts). */
export interface InstanceMovesTable {
  id: string;
  tenant_id: string;
  pool_id: string;
  instance_id: string;
  source_node: string;
  target_node: string;
  step: string;
  /** JSON BundlePart[]; null until exported. */
  parts: string | null;
  /** JSON Record<part, bytes>. */
  received: string;
  attempts: number;
  reason: string | null;
  wake: number;
  /** Migration 0026: `running` or `warm`, the status it is brought back to; null to keep its own. */
  restore: string | null;
  drain_of: string | null;
  requested_by: string;
  created_at: string;
  updated_at: string;
  version: number;
}

/** Migration 0021: single-use session tickets (only their hash). */
export interface SessionTicketsTable {
  id: string;
  hash: string;
  tenant_id: string;
  pool_id: string;
  instance_id: string;
  kind: string;
  scope_tenant_id: string | null;
  token_id: string | null;
  token_name: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

/** Migration 0022: one row per host port a pool publishes (the primary key: one owner). */
export interface PublishedPortsTable {
  host_port: number;
  tenant_id: string;
  pool_id: string;
  guest_port: number;
}

/** Migration 0017: a counter per document scope (core/document-marks.ts). */
export interface DocumentMarksTable {
  scope: string;
  seq: number;
  /** Stamped by every bump, as instances' (migration 0042); 0 on rows written before. */
  change_seq?: number | string;
}

/** Kept by triggers on `instances` (migration 0037): held vCPUs and RAM per node and stripe. */
export interface NodeLoadsTable {
  node_id: string;
  stripe: number;
  vcpus: number;
  mem_mib: number;
}

/** Kept by triggers on `instances` (migration 0019). */
export interface NodeAllocationsTable {
  node_id: string;
  tenant_id: string;
  pool_id: string;
  instances: number;
  holding: number;
}

export interface TenantsTable {
  id: string;
  net_id: number;
  subnet: string;
  gateway: string;
  max_vcpus: number;
  max_mem_mib: number;
  max_running: number;
  max_warm: number;
  max_pools: number;
  max_instances_per_pool: number;
  max_disk_gib: number;
  /** 0 or 1: egress NAT for the tenant's guests */
  egress: number;
  /** Migration 0024: the tenant's running-jobs quota; null: none of its own. */
  max_running_jobs: number | null;
  created_at: string;
  updated_at: string;
  version: number;
}

export interface PoolsTable {
  tenant_id: string;
  id: string;
  role: string;
  /** An OCI image ref (the pool's source), or null. */
  image: string | null;
  /** '' when the pool's source is not a flake (the column predates sources). */
  flake: string;
  /** '' when the pool's source is not a flake. */
  profile: string;
  revision: string | null;
  vcpus: number;
  mem_mib: number;
  data_disk_mib: number;
  desired_running: number;
  desired_warm: number;
  desired_sleeping: number;
  /** 0 or 1 */
  pinned: number;
  /** 0 or 1 */
  critical: number;
  min_running_secs: number;
  min_warm_secs: number;
  /** Migration 0016: the idle policy (0 = off) and the service ports, a JSON array. */
  idle_warm_after_secs: number;
  idle_sleep_after_secs: number;
  service_ports: string;
  /** Migration 0017: a queue-driven pool's least and most awake workers; null: not one. */
  queue_min: number | null;
  queue_max: number | null;
  /** Migration 0024: workers the queue added and has not removed again. */
  queue_added: number;
  /** Migration 0025: seconds the queue stays empty before its workers go; null: default. */
  queue_shrink_after_secs: number | null;
  /** Migration 0022: published ports (JSON [{hostPort, guestPort}]) and hooks (JSON object). */
  published_ports: string;
  hooks: string;
  created_at: string;
  updated_at: string;
  version: number;
}

export interface InstancesTable {
  tenant_id: string;
  pool_id: string;
  id: string;
  ip: string;
  mac: string;
  status: string;
  desired_status: string;
  node_id: string | null;
  revision: string | null;
  failure_reason: string | null;
  status_since: string | null;
  last_active_at: string | null;
  pressure_slept_at: string | null;
  /** 1: asked to sleep with force (migration 0011). */
  sleep_forced: number;
  /** Migration 0016: the slot held while the idle policy keeps the instance lower. */
  idle_slot: string | null;
  /** The revision a rollout pinned it to, and when (migration 0014). */
  pinned_revision: string | null;
  pinned_at: string | null;
  /** Migration 0048: when the coordinator last lowered it to warm or sleeping. */
  lowered_at?: string | null;
  /** Migration 0028: the id of the last request that changed its entry in a node document. */
  last_request_id?: string | null;
  /** Migration 0028: stamped on every write (instance-changes.ts); a bigint on Postgres. */
  change_seq?: number | string;
  created_at: string;
  updated_at: string;
  version: number;
}

export interface NodesTable {
  id: string;
  hostname: string;
  arch: string;
  vcpus: number;
  mem_mib: number;
  disk_gib: number;
  /** JSON object of string → string */
  labels: string;
  status: string;
  last_heartbeat: string | null;
  underlay_ip: string | null;
  /** JSON NodeUsage as last reported by the node's agent */
  usage: string | null;
  /** Migration 0026: the status it had when declared lost (`ready`, `cordoned`); null otherwise. */
  lost_from: string | null;
  created_at: string;
  version: number;
}

export interface AuditEventsTable {
  id: Generated<number>;
  tenant_id: string | null;
  at: string;
  actor: string;
  action: string;
  target: string;
  /** JSON object */
  detail: string;
}

export interface ApiTokensTable {
  id: string;
  hash: string;
  tenant_id: string | null;
  name: string;
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
}

export interface NodeGenerationsTable {
  node_id: string;
  generation: number;
  /** sha256 hex of the document's canonical content */
  digest: string;
  updated_at: string;
}

export interface JoinTokensTable {
  id: string;
  /** sha256 hex of the secret */
  hash: string;
  /** The only node id the token may join as; null = any new node. */
  node_id: string | null;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface NodeCertificatesTable {
  /** Upper-case hex */
  serial: string;
  node_id: string;
  fingerprint: string;
  not_after: string;
  issued_at: string;
  revoked_at: string | null;
}

export interface NodeReportsTable {
  node_id: string;
  reported_at: string;
  /** JSON DiskReport (contract/node-report.ts); null when the agent sent none */
  disk: string | null;
  /**
   * JSON InstanceSample by `tenant/pool/instance` (rows written before 0034 may hold a JSON
   * array of them, read the same)
   */
  instances: string;
  /** The agent run whose reports this holds (0034); null: no delta merges into it */
  report_epoch: string | null;
  /** Which of that run's reports this is (0034) */
  report_seq: number | null;
}

export interface SecretsTable {
  tenant_id: string;
  /** '' for a secret of the whole tenant, else the pool it belongs to */
  pool_id: string;
  name: string;
  version: number;
  /** Which master key sealed the value (first 16 hex of sha256 over the key) */
  key_id: string;
  /** base64 of the 96-bit AES-GCM nonce, random per sealing */
  nonce: string;
  /** base64 of the AES-256-GCM ciphertext followed by its 16-byte tag */
  ciphertext: string;
  created_at: string;
  updated_at: string;
}

export interface PoolConfigsTable {
  tenant_id: string;
  pool_id: string;
  version: number;
  /** JSON object of file name → text content */
  files: string;
  created_at: string;
  updated_at: string;
}

/** Migration 0012: a tenant's job modules, by the sha256 of their bytes. */
export interface JobModulesTable {
  tenant_id: string;
  sha256: string;
  /** Buffer from both drivers (SQLite BLOB, Postgres BYTEA). */
  bytes: Uint8Array;
  size: number;
  created_at: string;
}

/** Migration 0012: jobs (core/jobs/job.ts names every column's meaning). */
export interface JobsTable {
  id: string;
  tenant_id: string;
  pool_id: string;
  module_sha256: string;
  /** JSON text */
  input: string;
  state: string;
  priority: number;
  attempts: number;
  failed_attempts: number;
  lost_attempts: number;
  max_attempts: number;
  run_at: string;
  lease_token: string | null;
  lease_expires_at: string | null;
  worker: string | null;
  timeout_secs: number;
  started_at: string | null;
  idempotency_key: string | null;
  retry_of: string | null;
  /** JSON text */
  result: string | null;
  error_code: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  version: number;
}

/** Migration 0015: the effect journal (core/jobs/effect-journal.ts names each column). */
export interface JobEffectsTable {
  job_id: string;
  seq: number;
  op: string;
  request_hash: string;
  /** JSON text */
  request: string;
  /** recorded | sent | completed */
  state: string;
  /** 0 or 1 */
  idempotent: number;
  /** JSON text */
  response: string | null;
  attempt: number;
  recorded_at: string;
  completed_at: string | null;
}

/** Migration 0015: the tenants' job KV (kv_get, kv_set). */
export interface JobKvTable {
  tenant_id: string;
  key: string;
  value: string;
  version: number;
  updated_at: string;
}

export interface RevisionsTable {
  tenant_id: string;
  pool_id: string;
  /** sha256 hex of the manifest's canonical JSON */
  id: string;
  /** JSON RevisionManifest (core/revision.ts) */
  manifest: string;
  /** JSON RevisionSource */
  source: string;
  /** JSON ArtifactRef of the build log, or null */
  log: string | null;
  built_by: string;
  build_ms: number;
  created_at: string;
}

export interface BuildsTable {
  id: string;
  tenant_id: string;
  pool_id: string;
  /** running | succeeded | failed */
  status: string;
  /** JSON PoolSource the build was started for */
  source: string;
  revision_id: string | null;
  error: string | null;
  /** JSON ArtifactRef of the build log, or null */
  log: string | null;
  started_by: string;
  started_at: string;
  finished_at: string | null;
}

/** One per pool: its latest rollout (migration 0014). */
export interface RolloutsTable {
  tenant_id: string;
  pool_id: string;
  state: string;
  from_revision: string;
  to_revision: string;
  /** The revision before `from_revision` (migration 0017). */
  previous_revision: string | null;
  canary: number;
  max_unavailable: number;
  /** 0 or 1 */
  include_sleeping: number;
  ready_timeout_ms: number;
  /** 0 or 1: every canary was ready once. */
  canaries_done: number;
  /** JSON RolloutProgressCounts */
  progress: string;
  reason: string | null;
  started_by: string;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
  version: number;
}
