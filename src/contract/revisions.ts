import { createHash } from 'node:crypto';
import { z } from 'zod';
import { buildStatuses, manifestText, REVISION_SCHEMA } from '../core/revision.ts';
import type { RevisionManifest } from '../core/revision.ts';
import { idSchema, MAX_INT32 } from './common.ts';
import { runSpecSchema } from './oci-image.ts';

/**
 * Revisions, builds and artifacts on the wire. A revision's manifest is also what a node
 * fetches and checks against the revision id (its sha256), so its schema is strict.
 */
export const sha256Schema = z
  .string()
  .length(64)
  .regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits (sha256)');

const artifactRefSchema = z.strictObject({
  sha256: sha256Schema,
  bytes: z.number().int().min(0),
});

const stringList = z.array(z.string().max(65_536)).max(4096);

/** A flake's `mvm-image.json`: its workload, in the OCI config's terms. */
export const nixWorkloadSchema = z.strictObject({
  entrypoint: stringList.optional(),
  cmd: stringList.optional(),
  env: stringList.optional(),
  workingDir: z.string().max(4096).optional(),
  user: z.string().max(256).optional(),
});

export const revisionManifestSchema = z.strictObject({
  schema: z.literal(REVISION_SCHEMA),
  kernel: artifactRefSchema,
  initrd: artifactRefSchema.nullable(),
  rootfs: artifactRefSchema,
  rootfsFormat: z.enum(['ext4', 'erofs']),
  cmdline: z.string().max(4096),
  initDrive: z.literal('node'),
  workload: runSpecSchema.nullable(),
  runSpec: artifactRefSchema.nullable(),
  drives: z.strictObject({ secrets: z.boolean(), config: z.boolean() }).optional(),
});

/** The revision id of a manifest: the sha256 of its canonical JSON. */
export function revisionIdOf(manifest: RevisionManifest): string {
  return createHash('sha256').update(manifestText(manifest)).digest('hex');
}

const poolSourceSchema = z.union([
  z.object({ kind: z.literal('dev') }),
  z.object({ kind: z.literal('oci'), ref: z.string() }),
  z.object({ kind: z.literal('nix'), flake: z.string(), profile: z.string() }),
]);

const revisionSourceSchema = z.union([
  z.object({ kind: z.literal('dev'), devImage: z.string() }),
  z.object({ kind: z.literal('oci'), ref: z.string(), digest: z.string() }),
  z.object({
    kind: z.literal('nix'),
    flake: z.string(),
    attribute: z.string(),
    narHash: z.string().nullable(),
    lockSha256: z.string().nullable(),
  }),
]);

export const revisionSchema = z.object({
  id: sha256Schema,
  tenantId: idSchema,
  poolId: idSchema,
  manifest: revisionManifestSchema,
  source: revisionSourceSchema,
  /** Every artifact's bytes together. */
  bytes: z.number().int(),
  log: artifactRefSchema.nullable(),
  builtBy: z.string(),
  buildMs: z.number().int(),
  createdAt: z.string(),
  /** Whether the pool runs it now (its `revision`). */
  current: z.boolean(),
});
export type RevisionView = z.infer<typeof revisionSchema>;

export const buildSchema = z.object({
  id: idSchema,
  tenantId: idSchema,
  poolId: idSchema,
  status: z.enum(buildStatuses),
  source: poolSourceSchema,
  revisionId: sha256Schema.nullable(),
  error: z.string().nullable(),
  log: artifactRefSchema.nullable(),
  startedBy: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type BuildView = z.infer<typeof buildSchema>;

/** A build as it goes: its record, and the log from `logFrom` on (at most 64 KiB of it). */
export const buildProgressSchema = z.object({
  build: buildSchema,
  log: z.string(),
  /** Where the next read of the log starts. */
  logNext: z.number().int(),
  /** The revision it recorded, once it succeeded. */
  revision: revisionSchema.nullable(),
});
export type BuildProgressView = z.infer<typeof buildProgressSchema>;

export const startBuildSchema = z.strictObject({
  /**
   * The source the CLI packed and uploaded (PUT /tenants/:tenant/uploads/:digest): needed for
   * sources on the caller's machine (oci:, oci-archive:, docker-archive:, local flakes).
   */
  upload: sha256Schema.optional(),
});
export type StartBuildRequest = z.infer<typeof startBuildSchema>;

export const buildParams = z.strictObject({ tenant: idSchema, pool: idSchema, build: idSchema });
export const buildQuerySchema = z.strictObject({
  logFrom: z.coerce.number().int().min(0).max(MAX_INT32).default(0),
});

export const revisionParams = z.strictObject({
  tenant: idSchema,
  pool: idSchema,
  revision: sha256Schema,
});

export const revisionLogSchema = z.object({
  revision: sha256Schema,
  /** The end of the log (the whole of it when shorter): at most 1 MiB. */
  text: z.string(),
  bytes: z.number().int(),
  truncated: z.boolean(),
});

export const uploadParams = z.strictObject({ tenant: idSchema, digest: sha256Schema });
export const uploadResultSchema = z.object({
  digest: sha256Schema,
  bytes: z.number().int(),
  /** False when the coordinator had it already (nothing was stored again). */
  stored: z.boolean(),
});

/** A node asks for an artifact or a revision's manifest of a pool it runs. */
export const nodeArtifactParams = z.strictObject({ node: idSchema, digest: sha256Schema });
export const nodeRevisionParams = z.strictObject({ node: idSchema, revision: sha256Schema });

/** The response header naming the sha256 of the whole artifact (also on a 206). */
export const ARTIFACT_SHA256_HEADER = 'x-mvm-sha256';

/** The largest upload the coordinator takes (a packed OCI image or flake). */
export const MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024;

/** How much of a log one answer carries: a progress poll, and `pool revisions --log`. */
export const LOG_CHUNK_BYTES = 64 * 1024;
export const LOG_TAIL_BYTES = 1024 * 1024;
