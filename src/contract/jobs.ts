/**
 * Jobs on the wire (docs/jobs.md). A submit carries the module as base64 in JSON: one content
 * type, one zod validation and the same client and tests as every other route, for a third
 * more bytes; its route alone admits a body large enough for the largest module.
 */
import { z } from 'zod';
import { pageQueryShape } from './paging.ts';
import { jobStates } from '../core/jobs/job.ts';
import { MAX_MODULE_BYTES } from '../core/jobs/module-check.ts';
import { idSchema, multilineText } from './common.ts';

/** base64 of MAX_MODULE_BYTES, with room for the rest of the body. */
export const SUBMIT_BODY_BYTES = Math.ceil((MAX_MODULE_BYTES * 4) / 3) + 1024 * 1024;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const MAX_INPUT_CHARS = 256 * 1024;
const MAX_RESULT_CHARS = 256 * 1024;

/** A lease token as the queue issues them (base64url or hex). */
export const tokenSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_-]+$/, 'not a lease token');

/**
 * Text the store keeps as it came: no control characters but line breaks and tabs (Postgres
 * refuses NUL in text) and no lone surrogates. JSON text never needs a raw control character.
 */
const storableText = (max: number) => multilineText(max);

const jsonText = (max: number) =>
  storableText(max).refine((text) => {
    try {
      JSON.parse(text);
      return true;
    } catch {
      return false;
    }
  }, 'not JSON text');

export const submitJobSchema = z.strictObject({
  pool: idSchema,
  /** The module's bytes, base64. */
  wasm: z.string().min(1).max(SUBMIT_BODY_BYTES).regex(BASE64, 'not base64'),
  /** JSON text handed to the module byte for byte; default `null`. */
  input: jsonText(MAX_INPUT_CHARS).optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  timeoutSecs: z
    .number()
    .int()
    .min(1)
    .max(24 * 3600)
    .optional(),
  key: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII, no spaces')
    .optional(),
});
export type SubmitJobRequest = z.infer<typeof submitJobSchema>;

export const jobListQuerySchema = z.strictObject({
  pool: idSchema.optional(),
  state: z.enum(jobStates).optional(),
  ...pageQueryShape,
});

export const jobSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  pool: z.string(),
  moduleSha256: z.string(),
  input: z.string(),
  state: z.enum(jobStates),
  priority: z.number().int(),
  attempts: z.number().int(),
  failedAttempts: z.number().int(),
  lostAttempts: z.number().int(),
  maxAttempts: z.number().int(),
  runAt: z.string(),
  worker: z.string().nullable(),
  leaseExpiresAt: z.string().nullable(),
  timeoutSecs: z.number().int(),
  startedAt: z.string().nullable(),
  key: z.string().nullable(),
  retryOf: z.string().nullable(),
  result: z.string().nullable(),
  errorCode: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type JobView = z.infer<typeof jobSchema>;

export const submittedJobSchema = z.object({
  job: jobSchema,
  /** False: a job with this idempotency key existed; it is answered and nothing was added. */
  created: z.boolean(),
});

/** What `mvm job logs` shows: how each attempt ended, as far as the store keeps it. */
export const jobLogSchema = z.object({
  id: z.string(),
  state: z.enum(jobStates),
  attempts: z.number().int(),
  failedAttempts: z.number().int(),
  lostAttempts: z.number().int(),
  maxAttempts: z.number().int(),
  lastError: z.object({ code: z.string(), message: z.string() }).nullable(),
  events: z.array(z.object({ at: z.string(), what: z.string() })),
});

export const jobParams = z.strictObject({ tenant: idSchema, job: idSchema });

/** Completions one claim may carry (an executor sends the one job it just finished). */
export const MAX_CLAIM_COMPLETIONS = 100;

/** A held job's success carried by the worker's next claim: fenced by its own token. */
export const claimCompletionSchema = z.strictObject({
  job: idSchema,
  token: tokenSchema,
  result: jsonText(MAX_RESULT_CHARS),
});

export const claimJobsSchema = z.strictObject({
  tenant: idSchema,
  pool: idSchema,
  /** Who holds the lease: the worker instance on this node. */
  worker: idSchema,
  /** 0 only completes `completed` (then `completed` must name at least one job). */
  limit: z.number().int().min(0).max(100).optional(),
  leaseMs: z.number().int().min(1000).max(600_000).optional(),
  /** Long-poll: wait up to this long for a job when none is claimable now. */
  waitMs: z.number().int().min(0).max(60_000).optional(),
  /**
   * Jobs this worker finished successfully since its last claim: succeeded in the same round
   * trip (one statement on Postgres, one transaction on SQLite) before the claim, each fenced
   * by its own token; each job once.
   */
  completed: z.array(claimCompletionSchema).max(MAX_CLAIM_COMPLETIONS).optional(),
});
export type ClaimJobsRequest = z.infer<typeof claimJobsSchema>;

export const leasedJobSchema = jobSchema.extend({ leaseToken: z.string() });
export const claimedJobsSchema = z.object({
  jobs: z.array(leasedJobSchema),
  /** With `completed`: the ones that succeeded, and the ones whose lease was gone (stop). */
  succeeded: z.array(z.string()).optional(),
  lost: z.array(z.string()).optional(),
});

export const nodeJobParams = z.strictObject({ node: idSchema, job: idSchema });

export const jobHeartbeatSchema = z.strictObject({
  token: tokenSchema,
  leaseMs: z.number().int().min(1000).max(600_000).optional(),
});

export const completeJobSchema = z.discriminatedUnion('outcome', [
  z.strictObject({
    outcome: z.literal('succeeded'),
    token: tokenSchema,
    result: jsonText(MAX_RESULT_CHARS),
  }),
  z.strictObject({
    outcome: z.literal('failed'),
    token: tokenSchema,
    code: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9_]+$/, 'a-z, 0-9 and _'),
    message: storableText(4096),
    retryable: z.boolean(),
  }),
]);
export type CompleteJobRequest = z.infer<typeof completeJobSchema>;
