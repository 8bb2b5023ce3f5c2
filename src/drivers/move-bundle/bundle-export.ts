import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  bundleManifestSchema,
  bundlePartNameSchema,
  type BundleManifest,
  type BundlePartManifest,
} from '../../contract/move-bundle.ts';

/** Where a bundle's compressed parts and manifest live. */
export const partFile = (dir: string, name: string) => join(dir, `${name}.gz`);
export const manifestFile = (dir: string) => join(dir, 'manifest.json');

/** Counts and hashes the bytes that flow through it. */
export class HashingCounter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: string, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export interface ExportOptions {
  /** gzip level, 1 (fast) to 9 (small); default 1: a data disk is mostly zeros either way. */
  level?: number;
}

async function exportPart(
  file: { name: string; path: string },
  outDir: string,
  level: number,
): Promise<BundlePartManifest> {
  const name = bundlePartNameSchema.parse(file.name);
  const raw = new HashingCounter();
  const packed = new HashingCounter();
  const target = partFile(outDir, name);
  const temp = `${target}.tmp`;
  try {
    await pipeline(
      createReadStream(file.path),
      raw,
      createGzip({ level }),
      packed,
      createWriteStream(temp, { mode: 0o600 }),
    );
    await rename(temp, target);
  } finally {
    await rm(temp, { force: true });
  }
  return {
    name,
    bytes: packed.bytes,
    sha256: packed.digest(),
    rawBytes: raw.bytes,
    rawSha256: raw.digest(),
  };
}

/**
 * Packs files (a sleeping instance's snapshot and data disk) into `outDir` as a bundle: each
 * compressed on its own, hashed before and after, then the manifest. Running it again
 * rewrites the bundle whole, so an export cut short by a crash is simply done again; the
 * manifest is written last, so a bundle without one is incomplete.
 */
export async function exportBundle(
  files: ReadonlyArray<{ name: string; path: string }>,
  outDir: string,
  options: ExportOptions = {},
): Promise<BundleManifest> {
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  await rm(manifestFile(outDir), { force: true });
  const parts: BundlePartManifest[] = [];
  for (const file of files) parts.push(await exportPart(file, outDir, options.level ?? 1));
  const manifest = bundleManifestSchema.parse({
    format: 'mvm-move-bundle/1',
    compression: 'gzip',
    parts,
  });
  const temp = `${manifestFile(outDir)}.tmp`;
  await writeFile(temp, JSON.stringify(manifest, null, 2), { mode: 0o600 });
  await rename(temp, manifestFile(outDir));
  return manifest;
}
