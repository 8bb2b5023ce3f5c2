/**
 * The host agent's local API (unix socket `<dataDir>/agent.sock`, routes under /v1/local).
 * The CLI and the agent import the same schemas; they are validated at the boundary only.
 */
import { poolHooksSchema, publishListSchema } from './publish.ts';
import { z } from 'zod';
import { WorkloadStatusSchema } from './guest-protocol-v2.ts';
import { idSchema, instanceStatusSchema, roleSchema } from './common.ts';

const macSchema = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'a lower-case MAC address');
const ipv4Schema = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, 'a dotted IPv4 address');
/** Linux interface names: at most 15 characters. */
const tapSchema = z.string().regex(/^[a-z0-9-]{1,15}$/, 'an interface name of 1-15 [a-z0-9-]');
const cidrSchema = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'a CIDR like 10.240.5.0/24');
const netIdSchema = z.number().int().min(0).max(4095);

/** The instance's tenant network: with it, the agent puts the tap on `br-tenant-<netId>`. */
export const localTenantNetSchema = z.strictObject({
  netId: netIdSchema,
  subnet: cidrSchema,
  gateway: ipv4Schema,
  /** Whether the tenant's guests may reach the outside world (masqueraded). */
  egress: z.boolean().default(false),
});

/** What the agent needs to run one instance; identity (ip/mac) comes from the coordinator. */
export const localSpecSchema = z.strictObject({
  role: roleSchema,
  vcpus: z.number().int().min(1).max(64),
  memMib: z.number().int().min(64).max(262_144),
  dataDiskMib: z.number().int().min(1).max(1_048_576),
  ip: ipv4Schema,
  prefixLength: z.number().int().min(8).max(30).default(24),
  gateway: ipv4Schema.optional(),
  mac: macSchema,
  /** Default: derived from the instance key (deterministic, mvm-prefixed). */
  tap: tapSchema.optional(),
  /** Image revision; `dev` (or the dev image's hash) on hosts without Nix. */
  revision: z.string().min(1).max(128).default('dev'),
  /** Attach a network interface (needs /dev/net/tun; the tap is created by the VMM). */
  network: z.boolean().default(true),
  /**
   * The tenant network (from the coordinator's tenant). Absent on specs written before tenant
   * networking, or by hand: then the VMM creates its own tap, attached to no bridge.
   */
  tenant: localTenantNetSchema.optional(),
  /**
   * Set by the coordinator's document when the pool has secrets there: their values are then
   * fetched from the coordinator at each start and wake (never stored here). It names versions,
   * not values; a change makes the record take the new digest.
   */
  secretsDigest: z
    .string()
    .regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits')
    .optional(),
  /**
   * The pool's service ports: while the instance is warm or sleeping the node holds TCP
   * connections to them and wakes it (agent/wake). Absent: a lowered instance answers nothing.
   */
  servicePorts: z.array(z.number().int().min(1).max(65_535)).min(1).max(16).optional(),
  /** Host ports the node forwards to this instance's ports (agent/publish). */
  publish: publishListSchema.min(1).optional(),
  /** Guest commands around its sleep and wake (agent/runtime/hook-steps.ts). */
  hooks: poolHooksSchema.optional(),
});
export type LocalSpecInput = z.input<typeof localSpecSchema>;

/** The spec as stored: tap resolved, secrets reduced to a version counter. */
export const storedSpecSchema = localSpecSchema.extend({
  tap: tapSchema,
  secretsVersion: z.number().int().nonnegative(),
  configVersion: z.string().optional(),
});
export type StoredSpec = z.infer<typeof storedSpecSchema>;

export const putInstanceBodySchema = z.strictObject({
  spec: localSpecSchema,
  /** Name -> value; never echoed back, never logged. A change bumps secretsVersion. */
  secrets: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), z.string()).optional(),
  /** Gateway only: versioned, read-only config files. */
  config: z
    .strictObject({
      version: z.string().regex(/^[a-z0-9._-]{1,40}$/),
      files: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), z.string()),
    })
    .optional(),
});
export type PutInstanceBody = z.input<typeof putInstanceBodySchema>;

export const localActions = ['start', 'stop', 'warm', 'sleep', 'wake', 'destroy'] as const;
export type LocalAction = (typeof localActions)[number];
export const localActionBodySchema = z.strictObject({ action: z.enum(localActions) });

export const localInstanceParamsSchema = z.strictObject({
  tenant: idSchema,
  pool: idSchema,
  instance: idSchema,
});

export const localInstanceSchema = z.object({
  key: z.string(),
  tenantId: z.string(),
  poolId: z.string(),
  instanceId: z.string(),
  status: instanceStatusSchema,
  spec: storedSpecSchema,
  pid: z.number().int().nullable(),
  failureReason: z.string().nullable(),
  snapshotDir: z.string().nullable(),
  updatedAt: z.string(),
  version: z.number().int(),
});
export type LocalInstance = z.infer<typeof localInstanceSchema>;

export const guestStatsSchema = z.object({
  uptimeS: z.number(),
  counter: z.number().int(),
  ip: z.string(),
  bootId: z.string(),
  /** The workload service, when the instance's image has one (see guest-protocol-v2.ts). */
  workload: WorkloadStatusSchema.optional(),
});

export const localStatsSchema = localInstanceSchema.extend({
  vmState: z.enum(['running', 'paused', 'exited']).nullable(),
  cgroup: z
    .object({ dir: z.string(), pids: z.array(z.number().int()), pidInCgroup: z.boolean() })
    .nullable(),
  guest: guestStatsSchema.nullable(),
});
export type LocalStats = z.infer<typeof localStatsSchema>;

export const localLogsSchema = z.object({ key: z.string(), lines: z.array(z.string()) });
export type LocalLogs = z.infer<typeof localLogsSchema>;

/** `?tail=N` (the last N lines, default 100) or `?from=POS` (what came after a position). */
export const workloadLogsQuerySchema = z.strictObject({
  tail: z.coerce.number().int().min(1).max(10_000).optional(),
  from: z.coerce.number().int().min(0).optional(),
});

/** A piece of the workload's log; positions count bytes of the whole stream since boot. */
export const localWorkloadLogsSchema = z.object({
  key: z.string(),
  /** Oldest position the guest still keeps (the log is bounded and rotates). */
  first: z.number().int().nonnegative(),
  start: z.number().int().nonnegative(),
  /** Follow on from here. */
  end: z.number().int().nonnegative(),
  text: z.string(),
});
export type LocalWorkloadLogs = z.infer<typeof localWorkloadLogsSchema>;

/** A HostNetworkState (ports/network.ts) on the wire: the agent's or a state file's. */
export const hostNetworkStateSchema = z.object({
  tenants: z.array(
    z.object({
      netId: netIdSchema,
      subnet: cidrSchema,
      gateway: ipv4Schema,
      egress: z.boolean(),
      vxlanPeers: z.array(ipv4Schema).default([]),
    }),
  ),
  instances: z.array(
    z.object({
      tenantNetId: netIdSchema,
      tap: z.string().min(1).max(15),
      ip: ipv4Schema,
      mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'a MAC like 02:6d:76:00:05:03'),
    }),
  ),
  underlayIp: ipv4Schema.optional(),
  vxlanMtu: z.number().int().min(576).max(65535).optional(),
  services: z
    .object({
      metadata: z.object({ ip: ipv4Schema, port: z.number().int().min(1).max(65535) }).optional(),
      dns: z.boolean().optional(),
    })
    .optional(),
});

/** GET /v1/local/network: what the agent wants this node's tenant network to be. */
export const localNetworkSchema = z.object({
  /** False when the agent runs without tenant networking (MVM_NETWORK=off, not root). */
  enabled: z.boolean(),
  /** The namespace the agent's networking lives in; absent for the root namespace. */
  netns: z.string().optional(),
  state: hostNetworkStateSchema,
});
export type LocalNetwork = z.infer<typeof localNetworkSchema>;

export const LOCAL_API_PREFIX = '/v1/local';
export const AGENT_SOCKET_NAME = 'agent.sock';

/** POST /v1/local/gc: collect this node's garbage, or only list it. */
export const nodeGcRequestSchema = z.strictObject({ dryRun: z.boolean().default(false) });
export type NodeGcRequest = z.input<typeof nodeGcRequestSchema>;

export const gcItemKinds = [
  'process',
  'cgroup',
  'instance-dir',
  'snapshot',
  'tap',
  'artifact',
  'revision',
  'base',
] as const;

/** One thing `mvm node gc` removed (or would remove). */
export const gcItemSchema = z.object({
  kind: z.enum(gcItemKinds),
  /** A pid, cgroup, instance key, snapshot, link or cache entry name. */
  name: z.string(),
  path: z.string().optional(),
  bytes: z.number().int().nonnegative().optional(),
  /** Why it is garbage. */
  reason: z.string(),
});
export type GcItem = z.infer<typeof gcItemSchema>;

export const nodeGcReportSchema = z.object({
  dryRun: z.boolean(),
  /** Removed, or with dryRun what would be. */
  items: z.array(gcItemSchema),
  /** Items that could not be removed, with why. */
  failed: z.array(gcItemSchema.extend({ error: z.string() })),
  /** Bytes freed (or to free). */
  bytes: z.number().int().nonnegative(),
  /** Cache entries kept, by kind, and why nothing else was checked (networking off, ...). */
  kept: z.array(z.object({ kind: z.string(), name: z.string() })),
  notes: z.array(z.string()),
});
export type NodeGcReport = z.infer<typeof nodeGcReportSchema>;
