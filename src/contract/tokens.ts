import { z } from 'zod';
import { pageQueryShape } from './paging.ts';
import { idSchema, intIn, safeText } from './common.ts';

/** The longest lifetime a token may be issued for by `expiresInSeconds`: ten years. */
export const MAX_TOKEN_LIFETIME_SECONDS = 10 * 365 * 86_400;

/** Printable text: no control characters (NUL, ANSI escapes) and no formatting ones (RTL marks). */
const tokenNameSchema = safeText(100);

export const createTokenSchema = z
  .strictObject({
    name: tokenNameSchema,
    /** Refused from this many seconds after issue on. */
    expiresInSeconds: intIn(60, MAX_TOKEN_LIFETIME_SECONDS).optional(),
    /** Refused from this time on (ISO 8601 with a zone); must lie in the future. */
    expiresAt: z.iso.datetime({ offset: true }).max(40).optional(),
  })
  .refine((body) => body.expiresInSeconds === undefined || body.expiresAt === undefined, {
    message: 'give expiresInSeconds or expiresAt, not both',
    path: ['expiresAt'],
  });
export type CreateTokenRequest = z.infer<typeof createTokenSchema>;

export const tokenListQuerySchema = z.strictObject({
  /** Only this tenant's tokens. */
  tenant: idSchema.optional(),
  ...pageQueryShape,
});

export const tokenParams = z.strictObject({ token: idSchema });

/** A token as lists show it: never its secret, nor the secret's hash. */
export const tokenSchema = z.object({
  id: z.string(),
  /** admin: the coordinator's own token; tenant: one tenant's objects only. */
  scope: z.enum(['admin', 'tenant']),
  tenantId: z.string().nullable(),
  name: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  /** When a request last used it, recorded at most once a minute. */
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  state: z.enum(['active', 'expired', 'revoked']),
});
export type TokenView = z.infer<typeof tokenSchema>;

export const issuedTokenSchema = tokenSchema.extend({
  /** The secret, shown once; only its hash is stored. */
  token: z.string(),
});
export type IssuedTokenView = z.infer<typeof issuedTokenSchema>;

export const rotatedAdminTokenSchema = issuedTokenSchema.extend({
  /** The admin tokens that stopped working. */
  revoked: z.array(z.string()),
});
export type RotatedAdminTokenView = z.infer<typeof rotatedAdminTokenSchema>;
