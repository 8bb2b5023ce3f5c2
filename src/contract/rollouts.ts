import { z } from 'zod';
import { rolloutStates } from '../core/rollout-plan.ts';
import { idSchema, intIn } from './common.ts';
import { revisionSchema } from './requests.ts';

/** POST /v1/tenants/:tenant/pools/:pool/rollout: replace the pool's instances, canaries first. */
export const startRolloutSchema = z.strictObject({
  /** `dev` or one of the pool's revisions (404 otherwise, and nothing changes). */
  revision: revisionSchema,
  /** Instances replaced first, alone; the rest wait until they are all ready. */
  canary: intIn(0, 1000).default(1),
  /** Replaced instances that may be not ready at once. */
  maxUnavailable: intIn(1, 1000).default(1),
  /** Replace sleeping instances too, discarding their snapshots (default: they keep theirs). */
  includeSleeping: z.boolean().default(false),
  /** How long a replaced instance may take to be ready before the rollout turns back. */
  readyTimeoutSecs: intIn(1, 86_400).default(300),
});
export type StartRolloutRequest = z.input<typeof startRolloutSchema>;

export const rolloutProgressSchema = z.object({
  total: z.number().int(),
  ready: z.number().int(),
  replacing: z.number().int(),
});

export const rolloutSchema = z.object({
  tenantId: idSchema,
  poolId: idSchema,
  state: z.enum(rolloutStates),
  from: z.string(),
  to: z.string(),
  /** The revision before `from`: where `mvm pool rollback` goes after this one turned back. */
  previous: z.string().nullable(),
  /** What instances are moving to now: `to`, or `from` while rolling back. */
  target: z.string(),
  canary: z.number().int(),
  maxUnavailable: z.number().int(),
  includeSleeping: z.boolean(),
  readyTimeoutMs: z.number().int(),
  canariesDone: z.boolean(),
  progress: rolloutProgressSchema,
  reason: z.string().nullable(),
  startedBy: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
  version: z.number().int(),
});
export type RolloutView = z.infer<typeof rolloutSchema>;
