/**
 * Secrets and pool config on the wire. Values go one way only: a tenant sends them in, and
 * the one route that answers with them is a node's, for a pool it runs (mTLS). Every other
 * answer names secrets, never their values.
 */
import { z } from 'zod';
import { pageQueryShape } from './paging.ts';
import { CONFIG_FILE_PATTERN, CONFIG_FILE_RULE, configLimits } from '../core/pool-config.ts';
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE, secretLimits, utf8Bytes } from '../core/secrets.ts';
import { boundedRecord, expectedVersionSchema, idSchema } from './common.ts';

/** Half of a UTF-16 surrogate pair on its own: not text, and not storable as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u;
/** A pattern (so OpenAPI states it) refusing NUL, which no file name or C string survives. */
const NO_NUL = new RegExp(`^[^${String.raw`\u0000`}]*$`);

/** Any text but NUL (files in the guest may hold control characters), at most `bytes` UTF-8. */
function fileText(bytes: number, what: string) {
  return z
    .string()
    .max(bytes)
    .regex(NO_NUL, `no NUL characters in a ${what}`)
    .refine((s) => !LONE_SURROGATE.test(s), 'not valid Unicode text (a lone surrogate)')
    .refine((s) => utf8Bytes(s) <= bytes, `at most ${bytes} bytes of UTF-8`);
}

export const secretNameSchema = z.string().max(64).regex(SECRET_NAME_PATTERN, SECRET_NAME_RULE);
export const secretValueSchema = fileText(secretLimits.valueBytes, 'secret value');

const atLeastOne = (map: Record<string, unknown>) => Object.keys(map).length > 0;

/** Set (or rotate) several secrets at once, for the tenant or, with `pool`, for one pool. */
export const setSecretsSchema = z.strictObject({
  pool: idSchema.optional(),
  values: boundedRecord(secretNameSchema, secretValueSchema, secretLimits.perRequest).refine(
    atLeastOne,
    'give at least one secret',
  ),
});
export type SetSecretsRequest = z.infer<typeof setSecretsSchema>;

export const unsetSecretsSchema = z.strictObject({
  pool: idSchema.optional(),
  names: z.array(secretNameSchema).min(1).max(secretLimits.perRequest),
});
export type UnsetSecretsRequest = z.infer<typeof unsetSecretsSchema>;

export const secretListQuerySchema = z.strictObject({
  pool: idSchema.optional(),
  ...pageQueryShape,
});

/** A secret as answers show it: never its value. */
export const secretSchema = z.object({
  name: z.string(),
  scope: z.enum(['tenant', 'pool']),
  /** The pool of a pool secret; null for a secret of the whole tenant. */
  pool: z.string().nullable(),
  version: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SecretView = z.infer<typeof secretSchema>;

export const secretChangeSchema = z.object({
  secrets: z.array(secretSchema),
});

export const unsetResultSchema = z.object({
  removed: z.array(z.string()),
  /** Names asked for that were not set (at that scope). */
  missing: z.array(z.string()),
});

/**
 * What a node gets for one pool it runs: the pool's effective values (its own over the
 * tenant's), and the digest the desired document names for them.
 */
export const nodeSecretsSchema = z.object({
  tenant: z.string(),
  pool: z.string(),
  digest: z.string().nullable(),
  values: z.record(z.string(), z.string()),
});
export type NodeSecrets = z.infer<typeof nodeSecretsSchema>;

export const nodeSecretsParams = z.strictObject({
  node: idSchema,
  tenant: idSchema,
  pool: idSchema,
});

export const configFileNameSchema = z.string().max(64).regex(CONFIG_FILE_PATTERN, CONFIG_FILE_RULE);
export const configContentSchema = fileText(configLimits.fileBytes, 'config file');

/** Adds or replaces files (`replace`: the given files become the whole config). */
export const setPoolConfigSchema = z.strictObject({
  files: boundedRecord(configFileNameSchema, configContentSchema, configLimits.files),
  replace: z.boolean().optional(),
  /** Compare-and-set on the config's version (0: none set yet). */
  expectedVersion: z.union([z.literal(0), expectedVersionSchema]).optional(),
});
export type SetPoolConfigRequest = z.infer<typeof setPoolConfigSchema>;

export const unsetPoolConfigSchema = z.strictObject({
  names: z.array(configFileNameSchema).min(1).max(configLimits.files),
  expectedVersion: expectedVersionSchema.optional(),
});
export type UnsetPoolConfigRequest = z.infer<typeof unsetPoolConfigSchema>;

export const poolConfigSchema = z.object({
  tenantId: z.string(),
  poolId: z.string(),
  /** 0 until the first change. */
  version: z.number().int(),
  files: z.record(z.string(), z.string()),
  updatedAt: z.string().nullable(),
});
export type PoolConfigView = z.infer<typeof poolConfigSchema>;
