import { z } from 'zod';
import { rolloutSchema } from './rollouts.ts';
import {
  desiredStatusSchema,
  idSchema,
  instanceStatusSchema,
  poolCountsSchema,
  quotasSchema,
  roleSchema,
} from './common.ts';

/** Wire shapes of the coordinator's objects; the CLI and dashboard render these. */
export const tenantSchema = z.object({
  id: idSchema,
  netId: z.number().int(),
  subnet: z.string(),
  gateway: z.string(),
  bridge: z.string(),
  quotas: quotasSchema,
  egress: z.boolean(),
  /** Jobs it may have running at once; absent: no limit of its own. */
  maxRunningJobs: z.number().int().nullable().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  version: z.number().int(),
});
export type TenantView = z.infer<typeof tenantSchema>;

export const usageSchema = z.object({
  running: z.number().int(),
  warm: z.number().int(),
  vcpus: z.number().int(),
  memMib: z.number().int(),
  diskGib: z.number().int(),
  pools: z.number().int(),
  instances: z.number().int(),
});

export const tenantDetailSchema = tenantSchema.extend({ usage: usageSchema });
export type TenantDetailView = z.infer<typeof tenantDetailSchema>;

export const poolSchema = z.object({
  tenantId: idSchema,
  id: idSchema,
  role: roleSchema,
  /** The image source: `image`, or `flake`+`profile`, or all null (the dev image). */
  image: z.string().nullable(),
  flake: z.string().nullable(),
  profile: z.string().nullable(),
  revision: z.string().nullable(),
  vcpus: z.number().int(),
  memMib: z.number().int(),
  dataDiskMib: z.number().int(),
  counts: poolCountsSchema,
  pinned: z.boolean(),
  critical: z.boolean(),
  minRunningSecs: z.number().int(),
  minWarmSecs: z.number().int(),
  /** Idle policy: seconds idle before an instance goes warm, then sleeping; 0 = off. */
  idleWarmAfterSecs: z.number().int(),
  idleSleepAfterSecs: z.number().int(),
  /** TCP ports of the pool's service: a connection to one wakes a sleeping instance. */
  servicePorts: z.array(z.number().int()),
  /** Host ports forwarded to the instances' ports (absent from older coordinators). */
  publish: z
    .array(z.object({ hostPort: z.number().int(), guestPort: z.number().int() }))
    .optional(),
  /** Guest commands around sleep and wake. */
  hooks: z.record(z.string(), z.array(z.string())).optional(),
  /** `mvm pool autoscale --queue`: the least and most workers the job queue keeps awake. */
  queueScale: z
    .object({
      min: z.number().int(),
      max: z.number().int(),
      /** Absent: the coordinator's default (600 s). */
      shrinkAfterSecs: z.number().int().optional(),
    })
    .nullable()
    .optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  version: z.number().int(),
});
export type PoolView = z.infer<typeof poolSchema>;

export const poolDetailSchema = poolSchema.extend({
  /** How many of the pool's instances are in each observed status. */
  statuses: z.record(z.string(), z.number().int()),
  instances: z.number().int(),
  /** The pool's latest rollout (contract/rollouts.ts); null when it never had one. */
  rollout: rolloutSchema.nullable().optional(),
});
export type PoolDetailView = z.infer<typeof poolDetailSchema>;

export const instanceSchema = z.object({
  tenantId: idSchema,
  poolId: idSchema,
  id: idSchema,
  ip: z.string(),
  mac: z.string(),
  status: instanceStatusSchema,
  desiredStatus: desiredStatusSchema,
  nodeId: z.string().nullable(),
  revision: z.string().nullable(),
  failureReason: z.string().nullable(),
  statusSince: z.string().nullable(),
  lastActiveAt: z.string().nullable(),
  /** Set while the scheduler holds the instance asleep to make room under memory pressure. */
  pressureSleptAt: z.string().nullable(),
  /** Asked to sleep with force (its node snapshots it even while busy). */
  sleepForced: z.boolean().optional(),
  /** The slot (running or warm) the idle policy holds it below; null when it is in its slot. */
  idleSlot: z.enum(['running', 'warm']).nullable(),
  /** The revision a running rollout pinned it to (its node restarts it on that one). */
  pinnedRevision: z.string().nullable().optional(),
  pinnedAt: z.string().nullable().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  version: z.number().int(),
});
export type InstanceView = z.infer<typeof instanceSchema>;

export const nodeSchema = z.object({
  id: idSchema,
  hostname: z.string(),
  arch: z.string(),
  capacity: z.object({
    vcpus: z.number().int(),
    memMib: z.number().int(),
    diskGib: z.number().int(),
  }),
  labels: z.record(z.string(), z.string()),
  status: z.enum(['ready', 'lost', 'cordoned']),
  /** Lost nodes: the status it had (a cordoned node comes back cordoned). */
  lostFrom: z.enum(['ready', 'cordoned']).nullable().optional(),
  lastHeartbeat: z.string().nullable(),
  underlayIp: z.string().nullable(),
  usage: z
    .object({
      vcpus: z.number().int(),
      /** The sizes of its running and warm instances. */
      memMib: z.number().int(),
      /** What those hold by its agent's last measure (core/held-memory.ts). */
      heldMemMib: z.number().int().optional(),
      instances: z.record(z.string(), z.number().int()),
      diskFreeMib: z.number().int(),
      /** Where its published ports listen (its agent's MVM_PUBLISH_ADDRESS). */
      publishAddress: z.string().optional(),
      /** Its agent wakes lowered instances on a connection. */
      wakeOnConnect: z.boolean().optional(),
      /** Its agent runs worker exec for gateway guests (`MVM_WORKER_EXEC=on`). */
      workerExec: z.boolean().optional(),
    })
    .nullable(),
  createdAt: z.string(),
  version: z.number().int(),
});
export type NodeView = z.infer<typeof nodeSchema>;

export const auditEventSchema = z.object({
  id: z.number().int(),
  tenantId: z.string().nullable(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  detail: z.record(z.string(), z.unknown()),
});
export type AuditEventView = z.infer<typeof auditEventSchema>;
