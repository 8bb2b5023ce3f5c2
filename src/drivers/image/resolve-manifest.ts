/**
 * Which manifest an image reference names, before anything is copied: the digest of the
 * bytes its source serves (for a multi-platform index, of its linux/amd64 manifest). That
 * digest keys the cache, so a known image is found without copying or unpacking a byte.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../../core/errors.ts';
import { platformManifest } from '../../core/image-run-config.ts';
import {
  DOCKER_LIST_TYPE,
  OCI_INDEX_TYPE,
  OCI_MANIFEST_TYPE,
  ociIndexSchema,
} from '../../contract/oci-image.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { inspectRaw } from './skopeo.ts';

export interface ResolvedManifest {
  digest: string;
  /**
   * An OCI manifest can be copied byte for byte (`--preserve-digests`); a Docker one is
   * converted to OCI on the way, so the copy's manifest has a digest of its own.
   */
  preserveDigests: boolean;
}

export async function resolveManifest(
  runner: ProcessRunner,
  ref: string,
): Promise<ResolvedManifest> {
  const raw = await inspectRaw(runner, ref);
  const doc = parseObject(raw, ref);
  const mediaType = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : undefined;
  if (
    mediaType === OCI_INDEX_TYPE ||
    mediaType === DOCKER_LIST_TYPE ||
    (!mediaType && 'manifests' in doc)
  ) {
    const index = ociIndexSchema.safeParse(doc);
    if (!index.success)
      throw new ValidationError(`image '${ref}' has a malformed index: ${index.error.message}`);
    const chosen = platformManifest(index.data);
    return { digest: chosen.digest, preserveDigests: chosen.mediaType === OCI_MANIFEST_TYPE };
  }
  const config = doc['config'] as { mediaType?: unknown } | undefined;
  const oci =
    mediaType === OCI_MANIFEST_TYPE ||
    (mediaType === undefined && config?.mediaType === 'application/vnd.oci.image.config.v1+json');
  return {
    digest: `sha256:${createHash('sha256').update(raw).digest('hex')}`,
    preserveDigests: oci,
  };
}

function parseObject(raw: Buffer, ref: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // fall through to the refusal below
  }
  throw new ValidationError(`image '${ref}' did not give a JSON manifest`);
}
