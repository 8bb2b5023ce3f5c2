import { z } from 'zod';
import { desiredStatusSchema } from './common.ts';

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
