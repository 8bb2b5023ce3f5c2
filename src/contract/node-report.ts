import { z } from 'zod';
import { asciiRef, idSchema, instanceStatusSchema, intIn, MAX_INT32, safeText } from './common.ts';
import { instanceSchema, nodeSchema } from './resources.ts';

/**
 * What a node's agent knows of its disk and of each of its VMs, sent with its heartbeats and
 * kept by the coordinator (one report per node), so `mvm node disk`, `mvm node stats` and
 * `mvm instance stats` answer from anywhere. Sizes are KiB actually allocated on disk (sparse
 * images count what they hold, hard links once); a figure past 2 TiB saturates at MAX_INT32,
 * as every integer of the contract fits a 32-bit column.
 */
const kib = intIn(0, MAX_INT32);
const count = intIn(0, 1_000_000);

/** How many things and how much disk they take. */
export const spaceSchema = z.strictObject({ count, kib });
export type Space = z.infer<typeof spaceSchema>;

/** The filesystem a directory lives on. */
export const filesystemSchema = z.strictObject({
  path: safeText(1024),
  totalKib: kib,
  freeKib: kib,
});

/** One tenant's share of a node's disk. */
export const tenantDiskSchema = z.strictObject({
  tenant: idSchema,
  instances: count,
  /** The persistent data drives (`data.ext4`). */
  dataDisks: spaceSchema,
  /** Sleeping instances' memory snapshots (one per instance; older ones are orphans). */
  snapshots: spaceSchema,
  /** Everything else in the instances' dirs: secrets and config drives, console logs. */
  other: spaceSchema,
  /** Image revisions the tenant's instances run (shared artifacts, counted once per node). */
  revisions: z.array(asciiRef(128)).max(64),
});
export type TenantDisk = z.infer<typeof tenantDiskSchema>;

/** The image cache: shared by every tenant on the node. */
export const artifactsSchema = z.strictObject({
  images: spaceSchema,
  initDrives: spaceSchema,
  kernels: spaceSchema,
  guestAgents: spaceSchema,
  /** Half-written builds and index files. */
  other: spaceSchema,
});
export type Artifacts = z.infer<typeof artifactsSchema>;

export const diskReportSchema = z.strictObject({
  dataDir: filesystemSchema,
  cacheDir: filesystemSchema,
  tenants: z.array(tenantDiskSchema).max(4096),
  artifacts: artifactsSchema,
  /** Instance dirs no record owns (left by a crash; `mvm node gc` removes them). */
  orphans: spaceSchema,
});
export type DiskReport = z.infer<typeof diskReportSchema>;

/** Linux interface names: at most 15 characters. */
const linkNameSchema = z
  .string()
  .max(15)
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, 'an interface name');

/**
 * What the agent knows of one of its instances: when it was last active (the idle policy's
 * input) and, for `mvm instance stats`, its VMM, tap and what it uses.
 */
export const instanceSampleSchema = z.strictObject({
  tenant: idSchema,
  pool: idSchema,
  instance: idSchema,
  lastActiveAt: z.iso.datetime().max(64).optional(),
  status: instanceStatusSchema.optional(),
  pid: intIn(1, MAX_INT32).optional(),
  tap: linkNameSchema.optional(),
  /** CPU over the last heartbeat interval, in thousandths of one host CPU. */
  cpuPermille: intIn(0, 1_000_000).optional(),
  /** The VMM's resident memory. */
  rssKib: kib.optional(),
  /** The data drive. */
  diskKib: kib.optional(),
  /** The memory snapshot of a sleeping instance. */
  snapshotKib: kib.optional(),
  /** The revision its VM (or snapshot) runs: `dev` or a built revision's id. */
  revision: asciiRef(128).optional(),
  /**
   * A running guest's workload service as its guest agent reports it (rollouts judge
   * readiness and crash loops by it); absent when the image has none or the guest did not say.
   */
  workload: z
    .strictObject({
      state: asciiRef(32),
      restarts: intIn(0, MAX_INT32),
      /** How long its current run has lasted, when running (a rollout waits for a stable one). */
      runningForMs: intIn(0, MAX_INT32).optional(),
    })
    .optional(),
});
export type InstanceSample = z.infer<typeof instanceSampleSchema>;

/** KiB from bytes, rounded up and saturated at what the contract carries. */
export function toKib(bytes: number): number {
  return Math.min(MAX_INT32, Math.ceil(bytes / 1024));
}

/** GET /v1/nodes/:node/report: the node and its latest report (null fields before the first). */
export const nodeReportViewSchema = z.object({
  node: nodeSchema,
  reportedAt: z.string().nullable(),
  disk: diskReportSchema.nullable(),
  instances: z.array(instanceSampleSchema),
});
export type NodeReportView = z.infer<typeof nodeReportViewSchema>;

/** GET .../instances/:instance/stats: the coordinator's record and its node's last sample. */
export const instanceStatsSchema = z.object({
  instance: instanceSchema,
  node: z
    .object({ id: z.string(), status: z.string(), lastHeartbeat: z.string().nullable() })
    .nullable(),
  reportedAt: z.string().nullable(),
  sample: instanceSampleSchema.nullable(),
});
export type InstanceStatsView = z.infer<typeof instanceStatsSchema>;
