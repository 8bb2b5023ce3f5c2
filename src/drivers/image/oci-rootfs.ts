/**
 * An OCI image → a read-only, byte-reproducible root filesystem keyed by its manifest digest.
 * skopeo resolves the reference and copies the image into a private layout; every blob is
 * checked against its descriptor; umoci applies the layers in order (whiteouts delete from
 * lower layers only, opaque directories keep their own layer's entries, owners, modes, xattrs,
 * hard links and device nodes kept: we are root); mkfs.ext4 -d makes the filesystem. The
 * image is left as it is: mvm's init and agent come on their own drive, and the image's run
 * config reaches the guest on the run-spec drive. Nothing is cached unless all of it worked.
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError, ValidationError } from '../../core/errors.ts';
import { runConfigOf, runSpecOf } from '../../core/image-run-config.ts';
import type { ImageRunConfig } from '../../contract/oci-image.ts';
import { imageRunConfigSchema } from '../../contract/oci-image.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { makeStagingDir, publishDir, replaceDir } from '../dev-image/cache-dir.ts';
import { sha256File } from '../fs/sha256-file.ts';
import { readVerifiedImage, storeBlobs } from './oci-layout.ts';
import { resolveManifest } from './resolve-manifest.ts';
import { buildReproducibleExt4 } from './reproducible-ext4.ts';
import { ensureRunSpecDrive } from './run-spec-drive.ts';
import type { RunSpecDrive } from './run-spec-drive.ts';
import { checkImageRef, copyToLayout } from './skopeo.ts';
import { z } from 'zod';

/** Bump when the same image would give different rootfs bytes (sizing, mkfs options). */
export const OCI_ROOTFS_BUILDER = 'mvm-oci-rootfs/1';
const COPY_TAG = 'mvm';
const UNPACK_TIMEOUT_MS = 30 * 60_000;

export interface OciRootfs {
  /** sha256:… of the image's manifest, as its source serves it: the cache key. */
  digest: string;
  /** Read-only ext4 labelled `rootfs`. */
  rootfsPath: string;
  /** sha256 (hex) of rootfsPath's bytes; equal for every import of the same digest. */
  rootfsSha256: string;
  sizeBytes: number;
  image: ImageRunConfig;
  /** The run-spec drive (label `mvm-run`) made from `image`. */
  runSpec: RunSpecDrive;
  /** True when the digest was already built: nothing was copied or unpacked. */
  cached: boolean;
}

export interface BuildOciRootfsOptions {
  /** skopeo transport syntax: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, docker://… */
  ref: string;
  cacheDir: string;
  runner: ProcessRunner;
  logger: Logger;
  clock: Clock;
  onProgress?: (line: string) => void;
}

const entrySchema = z.object({
  builder: z.literal(OCI_ROOTFS_BUILDER),
  digest: z.string(),
  rootfsSha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().positive(),
  image: imageRunConfigSchema,
});

export async function buildOciRootfs(options: BuildOciRootfsOptions): Promise<OciRootfs> {
  const { ref, cacheDir, runner } = options;
  checkImageRef(ref);
  if (cacheDir.includes(':')) {
    throw new HostError(
      `the image cache '${cacheDir}' has a ':' in its path, which skopeo and umoci cannot take`,
    );
  }
  const say = progress(options);
  const source = await resolveManifest(runner, ref);
  say(`${ref} is ${source.digest}`);
  const dir = rootfsDir(cacheDir, source.digest);
  const cached = await readEntry(dir);
  if (cached) {
    say('already built: using the cached rootfs');
    return withRunSpec(options, dir, cached, true);
  }
  const staging = await makeStagingDir(join(cacheDir, 'oci', 'rootfs'), source.digest.slice(7, 19));
  try {
    const entry = await buildInto(options, staging, source, say);
    // An older builder's entry is replaced; a concurrent import of the same digest made the
    // same bytes, so whichever published first stays.
    if (await stat(dir).catch(() => undefined)) await replaceDir(staging, dir);
    else await publishDir(staging, dir);
    return withRunSpec(options, dir, (await readEntry(dir)) ?? entry, false);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

type Entry = z.infer<typeof entrySchema>;

async function buildInto(
  options: BuildOciRootfsOptions,
  staging: string,
  source: { digest: string; preserveDigests: boolean },
  say: (line: string) => void,
): Promise<Entry> {
  const { ref, runner } = options;
  const layout = join(staging, 'layout');
  say('copying the image (skopeo)');
  await copyToLayout(runner, ref, layout, COPY_TAG, source.preserveDigests);
  const verified = await readVerifiedImage(layout, COPY_TAG, ref);
  if (source.preserveDigests && verified.manifestDigest !== source.digest) {
    throw new ValidationError(
      `image '${ref}' changed while it was imported (${source.digest} became ${verified.manifestDigest}); import it again`,
    );
  }
  say(`verified ${verified.blobs.length} blobs (${verified.manifest.layers.length} layers)`);
  const image = runConfigOf(verified.config);
  const tree = join(staging, 'tree');
  say('applying the layers (umoci)');
  await runner.run('umoci', ['raw', 'unpack', '--image', `${layout}:${COPY_TAG}`, tree], {
    timeoutMs: UNPACK_TIMEOUT_MS,
  });
  const rootfs = join(staging, 'rootfs.ext4');
  const built = await buildReproducibleExt4(runner, {
    sourceDir: tree,
    path: rootfs,
    label: 'rootfs',
    seedHex: source.digest.slice('sha256:'.length),
    onAttempt: (attempt, sizing) =>
      say(
        `mkfs.ext4: ${Math.round(sizing.sizeBytes / 2 ** 20)} MiB, ${sizing.inodes} inodes${attempt > 1 ? ` (try ${attempt})` : ''}`,
      ),
  });
  await rm(tree, { recursive: true, force: true });
  const entry: Entry = {
    builder: OCI_ROOTFS_BUILDER,
    digest: source.digest,
    rootfsSha256: await sha256File(rootfs),
    sizeBytes: built.sizeBytes,
    image,
  };
  const record = {
    ...entry,
    manifestDigest: verified.manifestDigest,
    layers: verified.manifest.layers.map((l) => l.digest),
    files: built.tree.inodes,
    mkfsAttempts: built.attempts,
  };
  await writeFile(join(staging, 'image.json'), `${JSON.stringify(record, null, 2)}\n`);
  await storeBlobs(layout, join(options.cacheDir, 'oci', 'store'), verified.blobs);
  await rm(layout, { recursive: true, force: true });
  return entry;
}

async function withRunSpec(
  options: BuildOciRootfsOptions,
  dir: string,
  entry: Entry,
  cached: boolean,
): Promise<OciRootfs> {
  const runSpec = await ensureRunSpecDrive(
    options.cacheDir,
    options.runner,
    runSpecOf(entry.image),
  );
  return {
    digest: entry.digest,
    rootfsPath: join(dir, 'rootfs.ext4'),
    rootfsSha256: entry.rootfsSha256,
    sizeBytes: entry.sizeBytes,
    image: entry.image,
    runSpec,
    cached,
  };
}

/** `<cacheDir>/oci/rootfs/<manifest hex>`: rootfs.ext4 and image.json. */
export function rootfsDir(cacheDir: string, digest: string): string {
  return join(cacheDir, 'oci', 'rootfs', digest.slice('sha256:'.length));
}

/** A finished entry of this builder, or undefined (absent, partial, or an older builder's). */
async function readEntry(dir: string): Promise<Entry | undefined> {
  const text = await readFile(join(dir, 'image.json'), 'utf8').catch(() => undefined);
  if (text === undefined || !(await stat(join(dir, 'rootfs.ext4')).catch(() => undefined)))
    return undefined;
  const parsed = entrySchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : undefined;
}

function progress(options: BuildOciRootfsOptions): (line: string) => void {
  const started = options.clock.now().getTime();
  return (line) => {
    const ms = options.clock.now().getTime() - started;
    options.logger.info({ ref: options.ref, ms }, line);
    options.onProgress?.(`[${(ms / 1000).toFixed(1)}s] ${line}`);
  };
}
