import { z } from 'zod';
import { pageQueryShape } from './paging.ts';
import { poolLimits } from '../core/pool-spec.ts';
import { MAX_NET_ID } from '../core/subnets.ts';
import { flakeRefProblems, imageRefProblems } from '../core/pool-source.ts';
import {
  asciiRef,
  boundedRecord,
  expectedVersionSchema,
  idSchema,
  instanceStatusSchema,
  intIn,
  MAX_FAILURE_REASON,
  MAX_INT32,
  multilineText,
  partialQuotasSchema,
  poolCountsSchema,
  roleSchema,
  safeText,
  sleepPolicySecsSchema,
  underlayIpSchema,
} from './common.ts';
import { poolHooksPatchSchema, poolHooksSchema, publishListSchema } from './publish.ts';

/** At most 16 distinct TCP ports, 1-65535: the pool's service, trapped while it sleeps. */
const servicePortsSchema = z
  .array(intIn(1, 65_535))
  .max(16)
  .refine((ports) => new Set(ports).size === ports.length, 'service ports must be distinct');

/** Flake refs carry a URL and query; image refs a path or registry name (core/pool-source). */
const flakeSchema = asciiRef(1024).refine(
  (ref) => flakeRefProblems(ref).length === 0,
  "a flake ref without '#': a path (., /abs, path:/abs) or a ref like github:org/repo",
);
const imageSchema = asciiRef(1024).refine(
  (ref) => imageRefProblems(ref).length === 0,
  'oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF] or docker://NAME[:TAG]',
);
/** `dev` or the id (sha256 hex) of a revision `mvm pool build` recorded for the pool. */
export const revisionSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^(dev|[0-9a-f]{64})$/,
    "'dev' or a revision id (64 hex digits) from 'mvm pool revisions'",
  );
const rangeOf = (limit: { min: number; max: number }) => intIn(limit.min, limit.max);

/** A tenant's running-jobs quota (docs/jobs.md, "Quotas"); null: no limit of its own. */
export const MAX_RUNNING_JOBS = 100_000;
const maxRunningJobsSchema = intIn(0, MAX_RUNNING_JOBS).nullable();

/** Request bodies. Strict: an unknown field is an error, never silently dropped. */
export const createTenantSchema = z.strictObject({
  id: idSchema,
  netId: intIn(0, MAX_NET_ID).optional(),
  subnet: z
    .string()
    .max(18)
    .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR like 10.240.7.0/24')
    .optional(),
  quotas: partialQuotasSchema.optional(),
  /** Let the tenant's guests reach the outside world (masqueraded); default off. */
  egress: z.boolean().optional(),
  /** Jobs it may have running at once; absent or null: no limit of its own. */
  maxRunningJobs: maxRunningJobsSchema.optional(),
});
export type CreateTenantRequest = z.infer<typeof createTenantSchema>;

export const updateTenantSchema = z.strictObject({
  quotas: partialQuotasSchema.optional(),
  /** Turns the tenant's egress NAT on or off on every node that runs it. */
  egress: z.boolean().optional(),
  /** Jobs it may have running at once; null removes the limit. */
  maxRunningJobs: maxRunningJobsSchema.optional(),
  /** Compare-and-set: fail if the tenant changed since this version was read. */
  expectedVersion: expectedVersionSchema.optional(),
});
export type UpdateTenantRequest = z.infer<typeof updateTenantSchema>;

export const createPoolSchema = z.strictObject({
  id: idSchema,
  role: roleSchema.default('worker'),
  /** The source: `image`, or `flake` with `profile`, or none of them (the dev image). */
  image: imageSchema.optional(),
  flake: flakeSchema.optional(),
  profile: idSchema.optional(),
  revision: z.literal('dev').optional(),
  vcpus: rangeOf(poolLimits.vcpus),
  memMib: rangeOf(poolLimits.memMib),
  dataDiskMib: rangeOf(poolLimits.dataDiskMib).default(1024),
  pinned: z.boolean().default(false),
  critical: z.boolean().default(false),
  minRunningSecs: sleepPolicySecsSchema.default(0),
  minWarmSecs: sleepPolicySecsSchema.default(0),
  idleWarmAfterSecs: sleepPolicySecsSchema.default(0),
  idleSleepAfterSecs: sleepPolicySecsSchema.default(0),
  servicePorts: servicePortsSchema.default([]),
  /** Host ports its nodes forward to the instances (`--publish HOSTPORT:GUESTPORT`). */
  publish: publishListSchema.optional(),
  /** Guest commands around sleep and wake (core/pool-hooks.ts). */
  hooks: poolHooksSchema.optional(),
});
export type CreatePoolRequest = z.infer<typeof createPoolSchema>;

/**
 * `mvm pool autoscale --queue`: the least and most workers the job queue keeps awake, or
 * `queue: false` to stop driving the pool by its queue. Bounds are checked in
 * core/jobs/queue-wake (all problems at once).
 */
export const poolAutoscaleSchema = z.discriminatedUnion('queue', [
  z.strictObject({
    queue: z.literal(true),
    min: intIn(0, 100_000),
    max: intIn(0, 100_000),
    /** Seconds the queue stays empty before the workers it added go; default 600. */
    shrinkAfterSecs: intIn(0, 100_000).optional(),
  }),
  z.strictObject({ queue: z.literal(false) }),
]);
export type PoolAutoscaleRequest = z.infer<typeof poolAutoscaleSchema>;

export const updatePoolSchema = z.strictObject({
  /** Accepted only to be refused with a clear reason: a pool's role is fixed at creation. */
  role: roleSchema.optional(),
  pinned: z.boolean().optional(),
  critical: z.boolean().optional(),
  minRunningSecs: sleepPolicySecsSchema.optional(),
  minWarmSecs: sleepPolicySecsSchema.optional(),
  idleWarmAfterSecs: sleepPolicySecsSchema.optional(),
  idleSleepAfterSecs: sleepPolicySecsSchema.optional(),
  /** Replaces the list; [] removes every port. */
  servicePorts: servicePortsSchema.optional(),
  /** Replaces the list; [] publishes nothing. */
  publish: publishListSchema.optional(),
  /** Sets (or with null removes) hooks; the others are kept. */
  hooks: poolHooksPatchSchema.optional(),
  /** Must be `dev` or one of the pool's revisions; it applies at each instance's next boot. */
  revision: revisionSchema.optional(),
  /** A new source for the next `mvm pool build` (as at create); `devImage` goes back to dev. */
  image: imageSchema.optional(),
  flake: flakeSchema.optional(),
  profile: idSchema.optional(),
  devImage: z.literal(true).optional(),
  expectedVersion: expectedVersionSchema.optional(),
});
export type UpdatePoolRequest = z.infer<typeof updatePoolSchema>;

export const scalePoolSchema = poolCountsSchema.partial().extend({
  expectedVersion: expectedVersionSchema.optional(),
});
export type ScalePoolRequest = z.infer<typeof scalePoolSchema>;

export const instanceActions = ['start', 'stop', 'warm', 'sleep', 'wake', 'destroy'] as const;
export type InstanceAction = (typeof instanceActions)[number];
export const instanceActionSchema = z
  .strictObject({
    action: z.enum(instanceActions),
    /**
     * sleep only: snapshot the instance even while its guest is busy. Without it, a sleep of a
     * guest with work in flight is refused by its node (the instance keeps running, the refusal
     * is its failureReason) and retried.
     */
    force: z.boolean().optional(),
    expectedVersion: expectedVersionSchema.optional(),
  })
  .refine((r) => r.force !== true || r.action === 'sleep', {
    message: 'force applies to sleep only',
    path: ['force'],
  });
export type InstanceActionRequest = z.infer<typeof instanceActionSchema>;

const MAX_LABELS = 64;
const labelsSchema = boundedRecord(
  z
    .string()
    .max(63)
    .regex(
      /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/,
      "a label key: letters, digits and '.', '_', '/', '-', starting and ending alphanumeric",
    ),
  safeText(253, 0),
  MAX_LABELS,
);

export const registerNodeSchema = z.strictObject({
  hostname: asciiRef(253),
  arch: asciiRef(64),
  capacity: z.strictObject({
    vcpus: intIn(1, MAX_INT32),
    memMib: intIn(1, MAX_INT32),
    diskGib: intIn(0, MAX_INT32),
  }),
  labels: labelsSchema.default({}),
  /** Where other nodes reach this one for VXLAN; omitted keeps the address already known. */
  underlayIp: underlayIpSchema.optional(),
});
export type RegisterNodeRequest = z.infer<typeof registerNodeSchema>;

const boolQuery = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1')
  .optional();

export const destroyQuerySchema = z.strictObject({ force: boolQuery });
export const instanceListQuerySchema = z.strictObject({
  tenant: idSchema.optional(),
  pool: idSchema.optional(),
  node: idSchema.optional(),
  status: instanceStatusSchema.optional(),
  ...pageQueryShape,
});
/**
 * A watch cursor is opaque digits (on Postgres a 64-bit transaction id): bounded as text, since
 * it may pass what a 32-bit column holds. One past what JSON numbers hold exactly is no cursor
 * the store gave, and starts the watch over.
 */
export const MAX_WATCH_CURSOR = Number.MAX_SAFE_INTEGER;
export const watchCursorSchema = z
  .string()
  .max(16)
  .regex(/^\d{1,16}$/, 'a watch cursor: the id of an event of this watch');
export const instanceWatchQuerySchema = z.strictObject({
  tenant: idSchema.optional(),
  pool: idSchema.optional(),
  node: idSchema.optional(),
  status: instanceStatusSchema.optional(),
  /**
   * Resume after the batch whose event id this is: only what changed since, no list. A
   * Last-Event-ID header wins over it.
   */
  since: watchCursorSchema.optional(),
});
export const nodeListQuerySchema = z.strictObject({
  status: z.enum(['ready', 'lost', 'cordoned']).optional(),
  ...pageQueryShape,
});
export const metricsQuerySchema = z.strictObject({ tenant: idSchema.optional() });
/** Audit event ids, like every integer a request carries, fit a 32-bit column. */
export const MAX_EVENT_ID = 2_147_483_647;
export const followEventsQuerySchema = z.strictObject({
  tenant: idSchema.optional(),
  /** Events with a higher id; default: from now. A Last-Event-ID header wins over it. */
  after: z.coerce.number().int().min(0).max(MAX_EVENT_ID).optional(),
});
export const eventsQuerySchema = z.strictObject({
  tenant: idSchema.optional(),
  last: z.coerce.number().int().min(1).max(10_000).default(50),
  ...pageQueryShape,
});

/** An agent's observation of one of its instances. */
export const statusReportSchema = z.strictObject({
  status: instanceStatusSchema,
  /** The status the agent last saw stored (compare-and-set); defaults to the current one. */
  expectedStatus: instanceStatusSchema.optional(),
  failureReason: multilineText(MAX_FAILURE_REASON).optional(),
  /** The revision the instance runs (booted, or its snapshot was taken from). */
  revision: revisionSchema.optional(),
});
export type StatusReportRequest = z.infer<typeof statusReportSchema>;

/** An agent woke one of its instances because a connection to it arrived (agent/wake). */
/** The largest age a wake report carries (ms; a 32-bit integer, ~24.8 days). */
export const MAX_WAKE_AGE_MS = 2 ** 31 - 1;

export const wakeReportSchema = z.strictObject({
  trigger: z.literal('connect'),
  /** The service port the connection was for. */
  port: intIn(1, 65_535),
  /** The client's address as the held connection showed it. */
  from: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[0-9A-Fa-f.:]+$/, 'an IPv4 or IPv6 address'),
  /** Another instance of the tenant, one of its gateways, or the node itself. */
  source: z.enum(['tenant', 'gateway', 'node']),
  /**
   * `node`: the node woke it already, by its own count of its room, while the coordinator did
   * not answer (agent/wake/wake-admitter.ts): it runs, and is counted so.
   */
  admittedBy: z.enum(['node']).optional(),
  /**
   * With `admittedBy: node`: how many ms before sending this report the node admitted the
   * wake, by its own clock (an age, so the two clocks need not agree). A wake reported again
   * after an agent's restart may have been answered and lowered since: the coordinator then
   * leaves the lowering standing (services/wake-report.ts). Bounded to a 32-bit integer
   * (~24.8 days): an older wake is reported at the bound (`MAX_WAKE_AGE_MS`).
   */
  admittedMsAgo: z.number().int().min(0).max(MAX_WAKE_AGE_MS).optional(),
});
export type WakeReportRequest = z.infer<typeof wakeReportSchema>;
