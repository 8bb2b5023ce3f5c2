import { z } from 'zod';
import { instanceStatusSchema, intIn, MAX_INT32, underlayIpSchema } from './common.ts';
import { diskReportSchema, instanceSampleSchema, type InstanceSample } from './node-report.ts';
import { registerNodeSchema } from './requests.ts';
import { nodeSchema } from './resources.ts';

const amount = intIn(0, MAX_INT32);

/** What a node's agent says it uses now (model.ts NodeUsage). */
export const nodeUsageSchema = z.strictObject({
  vcpus: amount,
  /** The sizes of its running and warm instances. */
  memMib: amount,
  /** What those hold: each VMM's resident memory, bounded by its size (core/held-memory.ts). */
  heldMemMib: amount.optional(),
  instances: z.partialRecord(instanceStatusSchema, amount),
  diskFreeMib: amount,
  /** The node traps connections to its warm and sleeping instances and wakes them. */
  wakeOnConnect: z.boolean().optional(),
  /** Its gateways' guests may run commands in their tenant's workers (`MVM_WORKER_EXEC=on`). */
  workerExec: z.boolean().optional(),
  /** Where its published ports listen (`MVM_PUBLISH_ADDRESS`), when it runs them (agent/publish). */
  publishAddress: z
    .string()
    .max(15)
    .regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'must be an IPv4 address')
    .optional(),
});

/**
 * One of the agent's instances: when it was last seen busy (CPU or network; absent = not yet),
 * and what it runs as and uses (node-report.ts).
 */
export const activitySampleSchema = instanceSampleSchema;
export type ActivitySample = InstanceSample;

/** An agent's periodic sign of life (POST /v1/nodes/:node/heartbeat). */
export const heartbeatSchema = z.strictObject({
  capacity: registerNodeSchema.shape.capacity,
  usage: nodeUsageSchema,
  instances: z.array(activitySampleSchema).max(100_000),
  /** The address the agent sources VXLAN from, when it has one; other nodes' peer lists follow it. */
  underlayIp: underlayIpSchema.optional(),
  /** The node's disk by tenant and its image cache; kept as the node's latest report. */
  disk: diskReportSchema.optional(),
});
export type HeartbeatRequest = z.infer<typeof heartbeatSchema>;

export const heartbeatResultSchema = z.object({
  node: nodeSchema,
  /** The node had been declared lost and is ready again with this heartbeat. */
  recovered: z.boolean(),
  /** How many instances' lastActiveAt moved forward. */
  activityUpdated: z.number().int(),
  /**
   * The generation of this node's document the coordinator last issued (0: none): the agent
   * refuses any older one, even after its own record of them was wiped.
   */
  desiredGeneration: z.number().int().min(0).optional(),
  /**
   * The node's lease (core/node-lease.ts): without another answered heartbeat within this
   * many ms of sending this one, the agent pauses the instances the coordinator may re-place.
   */
  leaseMs: z.number().int().min(1).optional(),
});
export type HeartbeatResult = z.infer<typeof heartbeatResultSchema>;
