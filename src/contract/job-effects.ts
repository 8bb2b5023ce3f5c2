/**
 * The effect journal on the wire (docs/jobs.md, "Durable execution"): node-scoped routes an
 * executor uses while it holds a job's lease. Every body names the lease token; a write the
 * lease no longer covers is answered 409 lease_lost and the executor stops.
 */
import { z } from 'zod';
import { effectStates, opNames } from '../core/jobs/effect-journal.ts';
import { idSchema, multilineText } from './common.ts';
import { tokenSchema } from './jobs.ts';

/** One request or response of an effect, as JSON text. */
export const MAX_EFFECT_CHARS = 1024 * 1024;

const effectText = multilineText(MAX_EFFECT_CHARS);

export const leaseTokenSchema = z.strictObject({ token: tokenSchema });

export const effectEntrySchema = z.object({
  seq: z.number().int(),
  op: z.enum(opNames as [string, ...string[]]),
  requestHash: z.string(),
  request: z.string(),
  state: z.enum(effectStates),
  idempotent: z.boolean(),
  response: z.string().nullable(),
  attempt: z.number().int(),
  recordedAt: z.string(),
  completedAt: z.string().nullable(),
});

export const journalSchema = z.object({ entries: z.array(effectEntrySchema) });

export const jobModuleSchema = z.object({ sha256: z.string(), wasm: z.string() });

export const recordEffectSchema = z.strictObject({
  token: tokenSchema,
  seq: z.number().int().min(0).max(1_000_000),
  op: z.enum(opNames as [string, ...string[]]),
  requestHash: z
    .string()
    .length(64)
    .regex(/^[0-9a-f]{64}$/, 'lower-case hex sha256'),
  request: effectText,
  idempotent: z.boolean(),
});

export const completeEffectSchema = z.strictObject({
  token: tokenSchema,
  /** Omitted for kv_get and kv_set: the coordinator performs those and answers itself. */
  response: effectText.optional(),
});

export const parkJobSchema = z.strictObject({
  token: tokenSchema,
  /** When the job may be claimed again (a `sleep` ends). */
  runAt: z.iso.datetime().max(64),
});

export const effectParams = z.strictObject({
  node: idSchema,
  job: idSchema,
  seq: z.coerce.number().int().min(0).max(1_000_000),
});
