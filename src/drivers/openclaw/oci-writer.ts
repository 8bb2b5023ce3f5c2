import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import type { Header } from 'tar-stream';

type Headers = Partial<Header> & { name: string };

/**
 * A one-layer OCI image layout written reproducibly: entries in the order given (the caller
 * sorts them), every time stamp fixed, owner root, gzip at a fixed level, config without a
 * creation time. The same entries give the same manifest digest, so `mvm pool build` of the
 * layout gives the same revision, on this host or another.
 */
export type LayerEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; source: string; size: number }
  | { kind: 'data'; path: string; mode: number; data: Buffer }
  | { kind: 'symlink'; path: string; target: string };

export interface ImageConfigFields {
  Entrypoint?: string[];
  Cmd?: string[];
  Env: string[];
  WorkingDir: string;
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
}

const MTIME = new Date('2026-01-01T00:00:00Z');

function header(entry: LayerEntry): Headers {
  const base = { name: entry.path, mtime: MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  switch (entry.kind) {
    case 'dir':
      return { ...base, type: 'directory', mode: entry.mode };
    case 'file':
      return { ...base, type: 'file', mode: entry.mode, size: entry.size };
    case 'data':
      return { ...base, type: 'file', mode: entry.mode, size: entry.data.length };
    case 'symlink':
      return { ...base, type: 'symlink', mode: 0o777, linkname: entry.target };
  }
}

function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

async function writeEntries(tar: ReturnType<typeof pack>, entries: readonly LayerEntry[]) {
  for (const entry of entries) {
    if (entry.kind === 'file') {
      const sink = tar.entry(header(entry));
      await pipeline(createReadStream(entry.source), sink);
    } else if (entry.kind === 'data') {
      await new Promise<void>((resolve, reject) =>
        tar.entry(header(entry), entry.data, (error) => (error ? reject(error) : resolve())),
      );
    } else {
      await new Promise<void>((resolve, reject) =>
        tar.entry(header(entry), (error) => (error ? reject(error) : resolve())),
      );
    }
  }
  tar.finalize();
}

async function putBlob(dir: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const hex = createHash('sha256').update(data).digest('hex');
  await writeFile(join(dir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** Writes the layout into `dir` (replaced); answers the manifest's digest. */
export async function writeOciLayout(
  dir: string,
  tag: string,
  entries: readonly LayerEntry[],
  config: ImageConfigFields,
): Promise<{ manifestDigest: string; layerBytes: number }> {
  const work = `${dir}.partial-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  const blobs = join(work, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  let layerBytes = 0;
  const tmp = join(work, 'layer.tmp');
  const tar = pack();
  const counting = new Transform({
    transform(chunk: Buffer, _enc, done) {
      layerBytes += chunk.length;
      done(null, chunk);
    },
  });
  await Promise.all([
    writeEntries(tar, entries),
    pipeline(
      tar,
      hashing(diff),
      createGzip({ level: 6 }),
      hashing(blob),
      counting,
      createWriteStream(tmp),
    ),
  ]);
  const layerHex = blob.digest('hex');
  await rename(tmp, join(blobs, layerHex));
  const configBlob = await putBlob(
    work,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config,
        rootfs: { type: 'layers', diff_ids: [`sha256:${diff.digest('hex')}`] },
      }),
    ),
  );
  const manifest = await putBlob(
    work,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: `sha256:${layerHex}`,
            size: layerBytes,
          },
        ],
      }),
    ),
  );
  await writeFile(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(work, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  await rm(dir, { recursive: true, force: true });
  await rename(work, dir);
  return { manifestDigest: manifest.digest, layerBytes };
}

/** The manifest digest of a layout written here (from index.json). */
export async function layoutDigest(dir: string): Promise<string | undefined> {
  try {
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
      manifests?: Array<{ digest?: string }>;
    };
    return index.manifests?.[0]?.digest;
  } catch {
    return undefined;
  }
}
