/**
 * Reading a local OCI layout that skopeo wrote, and checking it: every blob the manifest names
 * (config and layers) must be there with the size and sha256 its descriptor states, before
 * anything is unpacked or cached. Verified blobs then move into the content-addressed store.
 */
import { createHash } from 'node:crypto';
import { link, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../core/errors.ts';
import {
  ociImageConfigSchema,
  ociIndexSchema,
  ociManifestSchema,
} from '../../contract/oci-image.ts';
import type { OciDescriptor, OciImageConfig, OciManifest } from '../../contract/oci-image.ts';
import { isCode } from '../dev-image/cache-dir.ts';
import { sha256File } from '../fs/sha256-file.ts';

export interface VerifiedImage {
  manifestDigest: string;
  manifest: OciManifest;
  config: OciImageConfig;
  /** Every blob checked: config, layers, and the manifest itself. */
  blobs: OciDescriptor[];
}

/** The path of a blob inside a layout (or the store, which has the same shape). */
export function blobFile(root: string, digest: string): string {
  return join(root, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** Reads the manifest tagged `tag` and checks every blob it names; refuses on any mismatch. */
export async function readVerifiedImage(
  dir: string,
  tag: string,
  ref: string,
): Promise<VerifiedImage> {
  const index = parseJson(ociIndexSchema, await readFile(join(dir, 'index.json')), 'index.json');
  const desc = index.manifests.find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  );
  if (!desc) throw new ValidationError(`the copy of '${ref}' has no manifest tagged '${tag}'`);
  await verifyBlob(dir, desc, ref, 'manifest');
  const manifest = parseJson(
    ociManifestSchema,
    await readFile(blobFile(dir, desc.digest)),
    'manifest',
  );
  await verifyBlob(dir, manifest.config, ref, 'config');
  for (const layer of manifest.layers) await verifyBlob(dir, layer, ref, 'layer');
  const config = parseJson(
    ociImageConfigSchema,
    await readFile(blobFile(dir, manifest.config.digest)),
    'config',
  );
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new ValidationError(
      `image '${ref}' lists ${manifest.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`,
    );
  }
  if ((config.architecture ?? 'amd64') !== 'amd64' || (config.os ?? 'linux') !== 'linux') {
    throw new ValidationError(
      `image '${ref}' is built for ${config.os ?? '?'}/${config.architecture ?? '?'}; mvm guests are linux/amd64`,
    );
  }
  return {
    manifestDigest: desc.digest,
    manifest,
    config,
    blobs: [desc, manifest.config, ...manifest.layers],
  };
}

async function verifyBlob(
  dir: string,
  desc: OciDescriptor,
  ref: string,
  what: string,
): Promise<void> {
  const path = blobFile(dir, desc.digest);
  const size = await stat(path).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined) {
    throw new ValidationError(
      `${what} blob ${desc.digest} of image '${ref}' is missing; import refused, nothing cached`,
    );
  }
  if (size !== desc.size) {
    throw new ValidationError(
      `${what} blob ${desc.digest} of image '${ref}' is ${size} bytes, its descriptor says ${desc.size}: the image is corrupt; import refused, nothing cached`,
    );
  }
  const actual = `sha256:${await sha256File(path)}`;
  if (actual !== desc.digest) {
    throw new ValidationError(
      `${what} blob ${desc.digest} of image '${ref}' does not match its digest (its content hashes to ${actual}): the image is corrupt; import refused, nothing cached`,
    );
  }
}

/**
 * Hard-links verified blobs into the store (`<store>/blobs/sha256/<hex>`); a blob already
 * there is the same bytes by construction and is kept.
 */
export async function storeBlobs(
  layout: string,
  store: string,
  blobs: readonly OciDescriptor[],
): Promise<void> {
  await mkdir(join(store, 'blobs', 'sha256'), { recursive: true });
  for (const blob of blobs) {
    await link(blobFile(layout, blob.digest), blobFile(store, blob.digest)).catch(
      (error: unknown) => {
        if (!isCode(error, 'EEXIST')) throw error;
      },
    );
  }
}

export function sha256Of(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function parseJson<T>(
  schema: {
    safeParse(
      v: unknown,
    ): { success: true; data: T } | { success: false; error: { message: string } };
  },
  bytes: Buffer,
  what: string,
): T {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ValidationError(`the image's ${what} is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new ValidationError(`the image's ${what} is not valid: ${parsed.error.message}`);
  return parsed.data;
}
