import { z } from 'zod';
import { byteCount, desiredStatusSchema, idSchema, multilineText } from './common.ts';
import { bundleManifestSchema, bundlePartNameSchema, bundlePartSchema } from './move-bundle.ts';

/** One instance's part in a node's drain (core/drain-plan.ts). */
export const drainActionSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('move'),
    key: z.string(),
    target: z.string(),
    sleepFirst: z.boolean(),
    restore: desiredStatusSchema,
  }),
  z.object({ kind: z.literal('replace'), key: z.string() }),
  z.object({ kind: z.literal('wait'), key: z.string(), reason: z.string() }),
  z.object({ kind: z.literal('skip'), key: z.string() }),
]);
export type DrainActionView = z.infer<typeof drainActionSchema>;

/** `mvm instance move`: where to, and whether it wakes there. */
export const moveInstanceSchema = z.strictObject({
  node: idSchema,
  /** Wake it on the target once it is there (it then needs room for its RAM). */
  wake: z.boolean().default(false),
});
export type MoveInstanceRequest = z.infer<typeof moveInstanceSchema>;

const movePartViewSchema = bundlePartSchema.partial({ rawBytes: true, rawSha256: true });

export const instanceMoveSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  poolId: z.string(),
  instanceId: z.string(),
  step: z.enum(['requested', 'exporting', 'transferring', 'importing', 'done', 'failed']),
  sourceNode: z.string(),
  targetNode: z.string(),
  /** The bundle's parts as its manifest names them (raw size and sha256 too), once exported. */
  parts: z.array(movePartViewSchema).nullable(),
  received: z.record(z.string(), z.number()),
  attempts: z.number(),
  reason: z.string().nullable(),
  wake: z.boolean(),
  /** What a woken move brings it back to on the target (`running` or `warm`); null otherwise. */
  restore: z.enum(['running', 'warm']).nullable(),
  drainOf: z.string().nullable(),
  requestedBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  version: z.number(),
});
export type InstanceMoveView = z.infer<typeof instanceMoveSchema>;

/** `mvm node drain`: the node cordoned, the moves it asked for, and what waits or is re-placed. */
export const drainResultSchema = z.object({
  node: z.string(),
  moves: z.array(instanceMoveSchema),
  plan: z.array(drainActionSchema),
});

/** What an agent reports of a move it takes part in (core/instance-move.ts MoveEvent). */
export const moveReportSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('start') }),
  z.strictObject({ kind: z.literal('exported'), manifest: bundleManifestSchema }),
  z.strictObject({
    kind: z.literal('received'),
    part: bundlePartNameSchema,
    bytes: byteCount(2 ** 50),
  }),
  z.strictObject({
    kind: z.literal('part-refused'),
    part: bundlePartNameSchema,
    reason: multilineText(1000),
  }),
  z.strictObject({ kind: z.literal('imported') }),
  z.strictObject({ kind: z.literal('crashed'), reason: multilineText(1000) }),
  z.strictObject({ kind: z.literal('failed'), reason: multilineText(1000) }),
]);
export type MoveReport = z.infer<typeof moveReportSchema>;

export const movePartQuerySchema = z.strictObject({
  /** Where the uploaded bytes start in the part: the bytes the coordinator already holds. */
  offset: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 50)
    .meta({ format: 'int64', 'x-mvm-byte-count': true })
    .default(0),
});
