import { z } from 'zod';
import { MAX_HOOK_ARG_LENGTH, MAX_HOOK_ARGS } from '../core/pool-hooks.ts';
import { MAX_PUBLISHED_PORTS, publishProblems } from '../core/published-ports.ts';
import { intIn, safeText } from './common.ts';

/** One `HOSTPORT:GUESTPORT` pair as the API carries it. */
export const publishedPortSchema = z.strictObject({
  hostPort: intIn(1, 65_535),
  guestPort: intIn(1, 65_535),
});

/** A pool's published ports: distinct host ports, at most 16. */
export const publishListSchema = z
  .array(publishedPortSchema)
  .max(MAX_PUBLISHED_PORTS)
  .superRefine((ports, ctx) => {
    for (const message of publishProblems(ports)) ctx.addIssue({ code: 'custom', message });
  });

/** A hook's argv: 1-32 printable strings. */
export const hookArgvSchema = z.array(safeText(MAX_HOOK_ARG_LENGTH)).min(1).max(MAX_HOOK_ARGS);

/** A pool's hooks as stored and shown. */
export const poolHooksSchema = z.strictObject({
  beforeSleep: hookArgvSchema.optional(),
  afterWake: hookArgvSchema.optional(),
  secretsReload: hookArgvSchema.optional(),
  warmUp: hookArgvSchema.optional(),
});

/** An update of the hooks: null removes one, absent keeps it. */
export const poolHooksPatchSchema = z.strictObject({
  beforeSleep: hookArgvSchema.nullable().optional(),
  afterWake: hookArgvSchema.nullable().optional(),
  secretsReload: hookArgvSchema.nullable().optional(),
  warmUp: hookArgvSchema.nullable().optional(),
});
