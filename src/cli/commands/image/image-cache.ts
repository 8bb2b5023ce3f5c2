import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { text } from '../../values.ts';
import { option } from '../../command.ts';
import type { CommandContext } from '../../command.ts';

/**
 * The image cache as the CLI sees it: `<cacheDir>/images/<revision>/` directories, each
 * described by the builder's manifest.json. Read-only here; only the builder writes it.
 */
export interface CachedImage {
  revision: string;
  dir: string;
  builder: string;
  kernelRelease: string;
  vmlinux: string;
  vmlinuxBytes: number;
  initrd: string;
  initrdBytes: number;
  /** Read-only root filesystem shared by the revision's instances. */
  rootfs: string;
  /** Bytes the sparse rootfs image really occupies on disk. */
  rootfsBytes: number;
  modules: number;
  builtAt: string;
}

export const cacheDirOption = option(
  text('<dir>'),
  'image cache directory (env MVM_CACHE_DIR, default /var/cache/mvm)',
);

/** --cache-dir, else the agent's configured cache (MVM_CACHE_DIR, the config file, the default). */
export const cacheDirOf = (ctx: CommandContext, flag: string | undefined): string =>
  ctx.agentConfig(flag !== undefined ? { cacheDir: flag } : {}).cacheDir;

const REVISION = /^[0-9a-f]{64}$/;

/** Only the fields the CLI shows; the builder may add more without breaking `image list`. */
const ManifestSchema = z.looseObject({
  revision: z.string(),
  builder: z.string(),
  kernel: z.looseObject({ release: z.string() }),
  modules: z.array(z.string()).default([]),
});

/** Revisions present in the cache, whether or not their manifests are readable. */
export async function cachedRevisions(cacheDir: string): Promise<Set<string>> {
  const names = await readdir(join(cacheDir, 'images')).catch(() => [] as string[]);
  return new Set(names.filter((name) => REVISION.test(name)));
}

/** Every complete image in the cache, newest first; half-written or foreign entries are skipped. */
export async function listCachedImages(cacheDir: string): Promise<CachedImage[]> {
  const images: CachedImage[] = [];
  for (const revision of await cachedRevisions(cacheDir)) {
    const image = await readCachedImage(join(cacheDir, 'images', revision));
    if (image?.revision === revision) images.push(image);
  }
  return images.sort((a, b) => b.builtAt.localeCompare(a.builtAt));
}

export async function readCachedImage(dir: string): Promise<CachedImage | undefined> {
  const manifestFile = join(dir, 'manifest.json');
  const raw = await readFile(manifestFile, 'utf8').catch(() => undefined);
  const parsed = raw === undefined ? undefined : ManifestSchema.safeParse(safeJson(raw));
  if (!parsed?.success) return undefined;
  const vmlinux = join(dir, 'vmlinux');
  const initrd = join(dir, 'initrd.cpio.gz');
  const rootfs = join(dir, 'rootfs.ext4');
  const [kernelStat, initrdStat, rootfsStat, manifestStat] = await Promise.all(
    [vmlinux, initrd, rootfs, manifestFile].map((path) => stat(path).catch(() => undefined)),
  );
  if (!kernelStat || !initrdStat || !rootfsStat || !manifestStat) return undefined;
  const manifest = parsed.data;
  return {
    revision: manifest.revision,
    dir,
    builder: manifest.builder,
    kernelRelease: manifest.kernel.release,
    vmlinux,
    vmlinuxBytes: kernelStat.size,
    initrd,
    initrdBytes: initrdStat.size,
    rootfs,
    rootfsBytes: rootfsStat.blocks * 512,
    modules: manifest.modules.length,
    builtAt: manifestStat.mtime.toISOString(),
  };
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
