import { z } from 'zod';
import { ID_PATTERN } from '../core/ids.ts';
import { isUnicastIpv4 } from '../core/ipv4.ts';
import { desiredStatuses, instanceStatuses, roles } from '../core/model.ts';
import { MAX_SLEEP_POLICY_SECS } from '../core/sleep-policy.ts';

export const idSchema = z
  .string()
  .regex(ID_PATTERN, "use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'");

const count = z.number().int().min(0).max(1_000_000);

/** Where other nodes reach a node (its VXLAN underlay): a unicast dotted quad. */
export const underlayIpSchema = z
  .string()
  .refine(isUnicastIpv4, 'a unicast IPv4 address like 192.168.1.10');

export const quotasSchema = z.strictObject({
  maxVcpus: count,
  maxMemMib: count,
  maxRunning: count,
  maxWarm: count,
  maxPools: count,
  maxInstancesPerPool: count,
  maxDiskGib: count,
});
export const partialQuotasSchema = quotasSchema.partial();

export const roleSchema = z.enum(roles);
export const instanceStatusSchema = z.enum(instanceStatuses);
export const desiredStatusSchema = z.enum(desiredStatuses);

export const poolCountsSchema = z.strictObject({
  running: count,
  warm: count,
  sleeping: count,
});

export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** A pool's minimum running or warm time, in whole seconds. */
export const sleepPolicySecsSchema = z.number().int().min(0).max(MAX_SLEEP_POLICY_SECS);
