import { z } from 'zod';
import {
  idSchema,
  instanceStatusSchema,
  partialQuotasSchema,
  poolCountsSchema,
  roleSchema,
  sleepPolicySecsSchema,
  underlayIpSchema,
} from './common.ts';

/** Request bodies. Strict: an unknown field is an error, never silently dropped. */
export const createTenantSchema = z.strictObject({
  id: idSchema,
  netId: z.number().int().min(0).optional(),
  subnet: z.string().optional(),
  quotas: partialQuotasSchema.optional(),
});
export type CreateTenantRequest = z.infer<typeof createTenantSchema>;

export const updateTenantSchema = z.strictObject({
  quotas: partialQuotasSchema,
  /** Compare-and-set: fail if the tenant changed since this version was read. */
  expectedVersion: z.number().int().optional(),
});
export type UpdateTenantRequest = z.infer<typeof updateTenantSchema>;

export const createPoolSchema = z.strictObject({
  id: idSchema,
  role: roleSchema.default('worker'),
  flake: z.string().min(1),
  profile: z.string().min(1),
  revision: z.string().optional(),
  vcpus: z.number().int(),
  memMib: z.number().int(),
  dataDiskMib: z.number().int().default(1024),
  pinned: z.boolean().default(false),
  critical: z.boolean().default(false),
  minRunningSecs: sleepPolicySecsSchema.default(0),
  minWarmSecs: sleepPolicySecsSchema.default(0),
});
export type CreatePoolRequest = z.infer<typeof createPoolSchema>;

export const updatePoolSchema = z.strictObject({
  /** Accepted only to be refused with a clear reason: a pool's role is fixed at creation. */
  role: roleSchema.optional(),
  pinned: z.boolean().optional(),
  critical: z.boolean().optional(),
  minRunningSecs: sleepPolicySecsSchema.optional(),
  minWarmSecs: sleepPolicySecsSchema.optional(),
  revision: z.string().optional(),
  expectedVersion: z.number().int().optional(),
});
export type UpdatePoolRequest = z.infer<typeof updatePoolSchema>;

export const scalePoolSchema = poolCountsSchema.partial().extend({
  expectedVersion: z.number().int().optional(),
});
export type ScalePoolRequest = z.infer<typeof scalePoolSchema>;

export const instanceActions = ['start', 'stop', 'warm', 'sleep', 'wake', 'destroy'] as const;
export type InstanceAction = (typeof instanceActions)[number];
export const instanceActionSchema = z.strictObject({
  action: z.enum(instanceActions),
  expectedVersion: z.number().int().optional(),
});
export type InstanceActionRequest = z.infer<typeof instanceActionSchema>;

export const registerNodeSchema = z.strictObject({
  hostname: z.string().min(1),
  arch: z.string().min(1),
  capacity: z.strictObject({
    vcpus: z.number().int().min(1),
    memMib: z.number().int().min(1),
    diskGib: z.number().int().min(0),
  }),
  labels: z.record(z.string(), z.string()).default({}),
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
});
export const eventsQuerySchema = z.strictObject({
  tenant: idSchema.optional(),
  last: z.coerce.number().int().min(1).max(10_000).default(50),
});

/** An agent's observation of one of its instances. */
export const statusReportSchema = z.strictObject({
  status: instanceStatusSchema,
  /** The status the agent last saw stored (compare-and-set); defaults to the current one. */
  expectedStatus: instanceStatusSchema.optional(),
  failureReason: z.string().max(2000).optional(),
});
export type StatusReportRequest = z.infer<typeof statusReportSchema>;
