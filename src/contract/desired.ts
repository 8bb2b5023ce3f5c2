/**
 * Desired-state documents. The coordinator sends each node a signed, generation-numbered
 * document listing the instances placed there; an operator may instead hand an agent a
 * seed document (tenants → pools → counts) that it materializes itself. Both are strict:
 * an unknown field is an error, never silently dropped.
 */
import { poolHooksSchema, publishListSchema } from './publish.ts';
import { z } from 'zod';
import { NODE_DOCUMENT_SCHEMA } from '../core/desired-doc.ts';
import { ValidationError } from '../core/errors.ts';
import { REQUEST_ID } from '../core/request-id.ts';
import {
  desiredStatusSchema,
  idSchema,
  MAX_INT32,
  roleSchema,
  sleepPolicySecsSchema,
} from './common.ts';

const ipv4Schema = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, 'a dotted IPv4 address');
const cidrSchema = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'an IPv4 CIDR like 10.240.99.0/24');
const macSchema = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'a lower-case MAC address');
const netIdSchema = z.number().int().min(0).max(0xffff);
const positive = z.number().int().min(1);
const count = z.number().int().min(0).max(1_000_000);

export const desiredInstanceSchema = z.strictObject({
  id: idSchema,
  ip: ipv4Schema,
  mac: macSchema,
  desiredStatus: desiredStatusSchema,
  /** Only with desiredStatus sleeping: snapshot it even while its guest is busy. */
  forceSleep: z.literal(true).optional(),
  /**
   * A rollout pinned the instance to this revision: a VM (or snapshot) of another revision is
   * stopped and booted again on it. Without it the pool's revision applies at the next boot.
   */
  revision: z.string().min(1).max(128).optional(),
  /**
   * The id of the last request that changed this entry (X-Request-Id, docs/api.md): the
   * agent logs its work on the instance under it and passes it to the guest agent. Absent
   * when no request is known (older rows, seed documents).
   */
  requestId: z.string().regex(REQUEST_ID).optional(),
});
export type DesiredInstance = z.infer<typeof desiredInstanceSchema>;

export const desiredPoolSchema = z.strictObject({
  id: idSchema,
  role: roleSchema,
  /** The pool's flake source, if it has one (informational: the agent runs `revision`). */
  flake: z.string().min(1).nullable(),
  profile: z.string().min(1).nullable(),
  /**
   * What instances boot: a revision id (the node fetches its manifest and artifacts from the
   * coordinator and checks them against it), `dev` or null (the node's own dev image).
   */
  revision: z.string().min(1).nullable(),
  vcpus: positive,
  memMib: positive,
  dataDiskMib: positive,
  pinned: z.boolean(),
  critical: z.boolean(),
  /**
   * Names the pool's secrets (their names, versions and times, never their values): null for
   * none. The agent fetches the values from the coordinator's node route at each start and
   * wake; a document saved before secrets existed has none, hence the defaults.
   */
  secretsDigest: z.string().nullable().default(null),
  /** The pool's config files (`/etc/mvm-config`) and their version; null for none. */
  config: z
    .strictObject({
      version: z.number().int().min(1),
      files: z.record(z.string(), z.string()),
    })
    .nullable()
    .default(null),
  /** The ports a lowered instance's node wakes it for (absent: none; older documents). */
  servicePorts: z.array(z.number().int().min(1).max(65_535)).min(1).max(16).optional(),
  /** Host ports this node forwards to the pool's instances (absent: none; older documents). */
  publish: publishListSchema.min(1).optional(),
  /** Guest commands around sleep and wake (absent: none). */
  hooks: poolHooksSchema.optional(),
  instances: z.array(desiredInstanceSchema),
});
export type DesiredPool = z.infer<typeof desiredPoolSchema>;

export const desiredTenantSchema = z.strictObject({
  id: idSchema,
  netId: netIdSchema,
  subnet: cidrSchema,
  gateway: ipv4Schema,
  /**
   * Underlay addresses of the other nodes running this tenant: the VXLAN flood list. A
   * document saved before peers existed has none, hence the default.
   */
  vxlanPeers: z.array(ipv4Schema).default([]),
  /** Egress NAT for the tenant's guests (`mvm tenant update --egress on|off`). */
  egress: z.boolean().default(false),
  pools: z.array(desiredPoolSchema),
});
export type DesiredTenant = z.infer<typeof desiredTenantSchema>;

/**
 * Everything one node should run. Only instances placed on this node appear; instances meant
 * to be destroyed stay listed (desiredStatus `destroyed`) until the agent reports them gone,
 * so the agent tears them down instead of forgetting them.
 */
export const nodeDesiredSchema = z.strictObject({
  schema: z.literal(NODE_DOCUMENT_SCHEMA),
  nodeId: idSchema,
  /** Strictly increasing per node; bumped only when the content changes. 0 = never issued. */
  generation: z.number().int().min(0),
  /**
   * When the coordinator signed this copy (each answer is signed afresh): agents refuse
   * documents older than their bound or than the last they accepted.
   */
  issuedAt: z.string().min(1),
  tenants: z.array(desiredTenantSchema),
});
export type NodeDesired = z.infer<typeof nodeDesiredSchema>;

/**
 * What travels: the document as the exact bytes that were signed (canonical JSON), so the
 * verifier checks the signature before it parses anything. `signature` and `keyId` are absent
 * only on unsigned documents, which agents accept in dev mode alone.
 */
export const signedEnvelopeSchema = z.strictObject({
  payload: z.string().min(2),
  /** Base64 Ed25519 signature over the UTF-8 bytes of `payload`. */
  signature: z.string().min(1).optional(),
  /** First 16 hex digits of sha256 over the signer's public key (SPKI DER). */
  keyId: z
    .string()
    .regex(/^[0-9a-f]{16}$/, '16 lower-case hex digits')
    .optional(),
});
export type SignedEnvelope = z.infer<typeof signedEnvelopeSchema>;

/** The long-poll's answer when nothing newer than `after` appeared within the wait. */
export const desiredUnchangedSchema = z.strictObject({
  unchanged: z.literal(true),
  generation: z.number().int().min(0),
});

/**
 * The next document as a change of the one the agent holds (`base`, the watch's `after`), for
 * a watch that asked with `delta=1`: the new payload is `head` (its text up to and with
 * `"tenants":[`), then its tenants' texts joined by commas, then `]}`. A number is the index
 * of a tenant's text in the base payload, a string a tenant's text. `signature` and `keyId`
 * are the whole new payload's, as in a full envelope: the agent rebuilds the payload and
 * verifies it exactly as a full one, and one it cannot rebuild or verify it asks for whole.
 */
export const desiredDeltaSchema = z.strictObject({
  delta: z.strictObject({
    base: z.number().int().min(1).max(MAX_INT32),
    head: z.string().min(2),
    tenants: z.array(z.union([z.string().min(2), z.number().int().min(0)])),
  }),
  signature: z.string().min(1),
  keyId: z.string().regex(/^[0-9a-f]{16}$/, '16 lower-case hex digits'),
});
export type DesiredDelta = z.infer<typeof desiredDeltaSchema>;

/**
 * Whether every item is a digest (64 lower-case hex digits), checked natively over their joined
 * text (a non-hex pair ends Node's hex decoding early): a 500-digest manifest is checked at each
 * answer, twice (the API client's response check and the agent's verifyManifest), and zod's
 * regex check of each string was most of the agent's time on a manifest (docs/scale.md, "The
 * agent's manifest answer, profiled": ~0.7 ms against ~0.08).
 */
export function areDigests(digests: readonly string[]): boolean {
  for (const digest of digests) if (digest.length !== 64) return false;
  const all = digests.join('');
  return all === all.toLowerCase() && Buffer.from(all, 'hex').length * 2 === all.length;
}

/**
 * The document signed as a manifest (core/desired-manifest.ts), for a watch that asked with
 * `manifest=1`: the signature covers `manifest` alone, the payload's head (its text up to and
 * with `"tenants":[`) and the sha256 of each tenant's text in the document's order, not the
 * 237 KiB payload. `tenants` has one item per digest: the tenant's text, or null for a text
 * the agent holds from the document `base` (the watch's `after`) under that digest. The agent
 * checks the signature, then that each text it did not hold hashes to its digest: the payload
 * `head`, the texts joined by commas and `]}` is then exactly what the coordinator signed.
 * Without `base` every item is a text: that is also how an agent keeps it on disk.
 */
export const desiredManifestSchema = z.strictObject({
  manifest: z.strictObject({
    /** One line: the signed text puts it between newlines. */
    head: z
      .string()
      .min(2)
      .regex(/^[^\n]*$/, 'one line'),
    /** Each 64 lower-case hex digits (areDigests: one check of them all, not zod's of each). */
    digests: z.array(z.string()).refine(areDigests, 'each 64 lower-case hex digits'),
  }),
  base: z.number().int().min(1).max(MAX_INT32).optional(),
  tenants: z.array(z.string().min(2).nullable()),
  signature: z.string().min(1),
  keyId: z.string().regex(/^[0-9a-f]{16}$/, '16 lower-case hex digits'),
});
export type DesiredManifest = z.infer<typeof desiredManifestSchema>;
/**
 * The document signed as a manifest, sent as its changes against the manifest the agent holds
 * (`base`, the watch's `after`), for a watch that asked with `manifest=1` and `changes=1`: the
 * next manifest is `head`, then the base's digests with each edit applied in order (from place
 * `at` of the base, `drop` digests go and the digests of `tenants`' texts come in their stead),
 * the edits in increasing places with at least one digest kept between two. `signature` and
 * `keyId` are the whole manifest's (core/desired-manifest.ts): the agent rebuilds its text
 * from the digests it holds and verifies the one signature over it, so what it accepts is what
 * a manifest with every digest gives. The new texts carry no digests: the agent hashes them to
 * rebuild the manifest, and a text altered gives another digest, which the signature refuses.
 */
export const desiredManifestChangesSchema = z.strictObject({
  changes: z.strictObject({
    base: z.number().int().min(1).max(MAX_INT32),
    /** The next payload's head: one line, as in a manifest. */
    head: z
      .string()
      .min(2)
      .regex(/^[^\n]*$/, 'one line'),
    edits: z.array(
      z.strictObject({
        at: z.number().int().min(0).max(MAX_INT32),
        drop: z.number().int().min(0).max(MAX_INT32),
        tenants: z.array(z.string().min(2)),
      }),
    ),
  }),
  signature: z.string().min(1),
  keyId: z.string().regex(/^[0-9a-f]{16}$/, '16 lower-case hex digits'),
});
export type DesiredManifestChanges = z.infer<typeof desiredManifestChangesSchema>;
/** A manifest with every tenant's text: what an agent hands on and keeps on disk. */
export type ManifestEnvelope = Omit<DesiredManifest, 'base' | 'tenants'> & { tenants: string[] };
/** What an agent accepts and keeps: an envelope signed over its payload or over its manifest. */
export type StoredEnvelope = SignedEnvelope | ManifestEnvelope;

export const desiredWatchResponseSchema = z.union([
  signedEnvelopeSchema,
  desiredDeltaSchema,
  desiredManifestSchema,
  desiredManifestChangesSchema,
  desiredUnchangedSchema,
]);
export type DesiredWatchResponse = z.infer<typeof desiredWatchResponseSchema>;

export const desiredWatchQuerySchema = z.strictObject({
  after: z.coerce.number().int().min(0).max(MAX_INT32).default(0),
  waitMs: z.coerce.number().int().min(0).max(30_000).default(0),
  /**
   * `1`: the watcher takes a delta against the generation `after` (desiredDeltaSchema) when
   * the coordinator still knows that generation's tenants; absent or `0`, full envelopes only.
   */
  delta: z
    .enum(['0', '1'])
    .transform((v) => v === '1')
    .optional(),
  /**
   * `1`: the watcher takes the document signed as a manifest of its tenants' digests
   * (desiredManifestSchema), with only the texts it does not hold from `after`; it wins over
   * `delta`. Absent or `0`: envelopes signed over the whole payload.
   */
  manifest: z
    .enum(['0', '1'])
    .transform((v) => v === '1')
    .optional(),
  /**
   * `1`, with `manifest=1`: the watcher holds the manifest of `after` and takes the next one as
   * its changes (desiredManifestChangesSchema) when the coordinator still knows that manifest.
   */
  changes: z
    .enum(['0', '1'])
    .transform((v) => v === '1')
    .optional(),
});

export const signingKeySchema = z.strictObject({
  keyId: z.string(),
  algorithm: z.literal('ed25519'),
  publicKeyPem: z.string(),
});
export type SigningKeyView = z.infer<typeof signingKeySchema>;

/** The seed format (schema v1): tenants → pools → counts, no per-instance identity. */
export const seedPoolSchema = z.strictObject({
  poolId: idSchema,
  role: roleSchema.default('worker'),
  /** Recorded only: a seed's instances run the node's dev image. */
  flake: z.string().min(1).optional(),
  profile: z.string().min(1).optional(),
  vcpus: positive,
  memMib: positive,
  dataDiskMib: positive.default(1024),
  desiredCounts: z.strictObject({ running: count, warm: count, sleeping: count }),
  /** The pool's minimum times (see core/sleep-policy.ts); absent = 0. */
  minRunningSecs: sleepPolicySecsSchema.optional(),
  minWarmSecs: sleepPolicySecsSchema.optional(),
});
export type SeedPool = z.infer<typeof seedPoolSchema>;

export const seedTenantSchema = z.strictObject({
  tenantId: idSchema,
  network: z.strictObject({ netId: netIdSchema, subnet: cidrSchema, gateway: ipv4Schema }),
  pools: z.array(seedPoolSchema),
});
export type SeedTenant = z.infer<typeof seedTenantSchema>;

export const seedDocumentSchema = z.strictObject({
  schemaVersion: z.literal(1),
  tenants: z.array(seedTenantSchema),
});
export type SeedDocument = z.infer<typeof seedDocumentSchema>;

/**
 * Parses a document at a boundary (file, network), reporting every problem with its path so
 * a hand-written seed can be fixed in one go.
 */
export function parseDocument<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const at = issue.path.length > 0 ? issue.path.join('.') : '(document)';
    if (issue.code === 'unrecognized_keys')
      return `${at}: unknown field(s) ${issue.keys.join(', ')}`;
    return `${at}: ${issue.message}`;
  });
  throw new ValidationError(`invalid ${what}: ${problems.join('; ')}`, problems);
}
