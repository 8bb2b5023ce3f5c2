/**
 * The executor's calls from inside a worker guest (docs/jobs.md, "Executors in worker
 * microVMs"): one JSON line per call on the executor's stdout, one answer line on its stdin,
 * carried by the guest agent's exec session. The host agent's relay admits only the job
 * routes below, names the node and the instance itself, and adds its own credential: the
 * guest sends neither.
 */
import { z } from 'zod';
import { idSchema } from './common.ts';

/** The only routes a guest executor may reach (contract/api.ts names). */
export const guestJobCalls = [
  'claimJobs',
  'heartbeatJob',
  'completeJob',
  'jobModule',
  'jobJournal',
  'recordEffect',
  'markEffectSent',
  'completeEffect',
  'parkJob',
] as const;
export type GuestJobCall = (typeof guestJobCalls)[number];

/**
 * A call line is at most this long. An effect's request is at most 1 MiB of JSON text
 * (MAX_EFFECT_CHARS), escaped once more inside the line.
 */
export const MAX_GUEST_CALL_BYTES = 3 * 1024 * 1024;

export const guestCallSchema = z.strictObject({
  id: z.number().int().min(0),
  call: z.enum(guestJobCalls),
  job: idSchema.optional(),
  seq: z.number().int().min(0).optional(),
  body: z.record(z.string(), z.unknown()),
});
export type GuestCall = z.infer<typeof guestCallSchema>;

/** The relay's answer: the route's response, or the error with its HTTP status. */
export type GuestCallAnswer =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; status: number; code: string; message: string };
