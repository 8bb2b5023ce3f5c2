import { z } from 'zod';
import {
  asciiRef,
  idSchema,
  instanceStatusSchema,
  intIn,
  MAX_INT32,
  underlayIpSchema,
} from './common.ts';
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

/** Which instance a delta removes from the node's report. */
export const sampleKeySchema = z.strictObject({
  tenant: idSchema,
  pool: idSchema,
  instance: idSchema,
});
export type SampleKey = z.infer<typeof sampleKeySchema>;

/**
 * Which report a heartbeat carries (docs/scale.md, "Delta heartbeats"). `epoch` names the
 * agent's run and `seq` counts its reports. Without `base` the heartbeat's samples are the
 * whole report. With it they are a delta: the samples that changed since report `base` of
 * this epoch (the last one the coordinator accepted), `removed` the instances gone since, and
 * `disk` absent when it did not change. A delta whose base is not the report the coordinator
 * holds changes nothing of the report, and the answer asks for a whole one (`fullReport`).
 * Agents send it only to a coordinator whose answers say `deltas: true`.
 */
export const reportSeqSchema = z
  .strictObject({
    epoch: asciiRef(64),
    seq: intIn(1, MAX_INT32),
    base: intIn(1, MAX_INT32).optional(),
    removed: z.array(sampleKeySchema).max(100_000).optional(),
  })
  .refine((r) => r.base === undefined || r.base < r.seq, 'base must be an earlier report')
  .refine((r) => r.base !== undefined || r.removed === undefined, 'removed needs a base');
export type ReportSeq = z.infer<typeof reportSeqSchema>;

/** An agent's periodic sign of life (POST /v1/nodes/:node/heartbeat). */
export const heartbeatSchema = z.strictObject({
  capacity: registerNodeSchema.shape.capacity,
  usage: nodeUsageSchema,
  instances: z.array(activitySampleSchema).max(100_000),
  /** The address the agent sources VXLAN from, when it has one; other nodes' peer lists follow it. */
  underlayIp: underlayIpSchema.optional(),
  /** The node's disk by tenant and its image cache; kept as the node's latest report. */
  disk: diskReportSchema.optional(),
  /** Absent: `instances` and `disk` are the node's whole report, kept with no sequence. */
  report: reportSeqSchema.optional(),
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
  /** This coordinator takes delta heartbeats (`report` with a `base`). */
  deltas: z.boolean().optional(),
  /**
   * The heartbeat was a delta on a report the coordinator does not hold (none, another run's,
   * a lost or reordered beat): the report is unchanged and the agent must send a whole one.
   */
  fullReport: z.boolean().optional(),
});
export type HeartbeatResult = z.infer<typeof heartbeatResultSchema>;
