/**
 * OCI image layouts written offline for tests and benchmarks (no registry, no docker): each
 * layer a tar made with npm tar-stream (gzip or not), a config, a manifest and index.json, as
 * `skopeo copy oci:` reads them. Whiteouts are plain entries named `.wh.X` / `.wh..wh..opq`,
 * exactly as image builders write them, so the importer sees what real images carry.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { Header } from 'tar-stream';

type Headers = Partial<Header> & { name: string };

interface Owned {
  path: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Extended attributes, as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, string>;
}

export type FixtureEntry =
  | ({ type: 'dir' } & Owned)
  | ({ type: 'file'; data: string | Buffer } & Owned)
  | { type: 'symlink'; path: string; target: string }
  /** A hard link to `target`, an entry earlier in the same layer. */
  | { type: 'link'; path: string; target: string }
  | ({ type: 'char-device'; major: number; minor: number } & Owned)
  /** Deletes `path` from the layers below: an entry `dir/.wh.name`. */
  | { type: 'whiteout'; path: string; asHardlinkTo?: string }
  /** Hides everything the layers below put in the directory: `dir/.wh..wh..opq`. */
  | { type: 'opaque'; path: string };

export interface FixtureLayer {
  entries: readonly FixtureEntry[];
  compression: 'gzip' | 'none';
}

export interface FixtureConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
}

export interface FixtureImage {
  layers: readonly FixtureLayer[];
  config: FixtureConfig;
  /** index.json's `org.opencontainers.image.ref.name`; default `latest`. */
  tag?: string;
}

export interface WrittenImage {
  dir: string;
  tag: string;
  /** sha256:… of the manifest blob. */
  manifestDigest: string;
  layerDigests: string[];
  configDigest: string;
}

const MTIME = new Date('2026-01-02T03:04:05Z');
const LAYER_TYPES = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  none: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** Writes `image` as an OCI layout in `dir` (created if missing); returns its digests. */
export async function writeOciImage(dir: string, image: FixtureImage): Promise<WrittenImage> {
  const tag = image.tag ?? 'latest';
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const layers = [];
  const diffIds = [];
  for (const layer of image.layers) {
    const tar = await layerTar(layer.entries);
    diffIds.push(digestOf(tar));
    const blob = layer.compression === 'gzip' ? gzipSync(tar) : tar;
    layers.push({ mediaType: LAYER_TYPES[layer.compression], ...(await putBlob(dir, blob)) });
  }
  const config = Buffer.from(
    JSON.stringify({
      created: MTIME.toISOString(),
      architecture: 'amd64',
      os: 'linux',
      config: image.config,
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: image.layers.map(() => ({ created: MTIME.toISOString(), created_by: 'mvm test' })),
    }),
  );
  const configDesc = {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    ...(await putBlob(dir, config)),
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: configDesc,
      layers,
    }),
  );
  const manifestDesc = await putBlob(dir, manifest);
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifestDesc,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return {
    dir,
    tag,
    manifestDigest: manifestDesc.digest,
    layerDigests: layers.map((l) => l.digest),
    configDigest: configDesc.digest,
  };
}

/** The path of a blob in a layout, e.g. to corrupt it. */
export function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

async function putBlob(dir: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = digestOf(data);
  await writeFile(blobPath(dir, digest), data);
  return { digest, size: data.length };
}

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function layerTar(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    tar.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    tar.on('end', () => resolve(Buffer.concat(chunks)));
    tar.on('error', reject);
  });
  for (const entry of entries) {
    const { header, body } = tarEntry(entry);
    if (body === undefined) tar.entry(header);
    else tar.entry(header, body);
  }
  tar.finalize();
  return done;
}

function tarEntry(entry: FixtureEntry): { header: Headers; body?: Buffer } {
  const base = { name: entry.path, mtime: MTIME, uid: 0, gid: 0 };
  switch (entry.type) {
    case 'dir':
      return { header: { ...base, ...owned(entry, 0o755), type: 'directory' } };
    case 'file': {
      const body = Buffer.from(entry.data);
      return { header: { ...base, ...owned(entry, 0o644), type: 'file', size: body.length }, body };
    }
    case 'symlink':
      return { header: { ...base, mode: 0o777, type: 'symlink', linkname: entry.target } };
    case 'link':
      return { header: { ...base, mode: 0o644, type: 'link', linkname: entry.target } };
    case 'char-device':
      return {
        header: {
          ...base,
          ...owned(entry, 0o666),
          type: 'character-device',
          devmajor: entry.major,
          devminor: entry.minor,
        },
      };
    case 'whiteout': {
      const name = whiteoutName(entry.path, `.wh.${baseName(entry.path)}`);
      if (entry.asHardlinkTo !== undefined) {
        return {
          header: { ...base, name, mode: 0o644, type: 'link', linkname: entry.asHardlinkTo },
        };
      }
      return {
        header: { ...base, name, mode: 0o644, type: 'file', size: 0 },
        body: Buffer.alloc(0),
      };
    }
    case 'opaque':
      return {
        header: { ...base, name: `${entry.path}/.wh..wh..opq`, mode: 0o644, type: 'file', size: 0 },
        body: Buffer.alloc(0),
      };
  }
}

/** Mode, owner and xattrs; tar-stream writes `pax` records though its types omit them. */
function owned(entry: Owned, mode: number): Partial<Headers> {
  const header: Partial<Headers> = {
    mode: entry.mode ?? mode,
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
  };
  if (entry.xattrs) {
    header.pax = Object.fromEntries(
      Object.entries(entry.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v]),
    );
  }
  return header;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function whiteoutName(path: string, leaf: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? leaf : `${path.slice(0, slash)}/${leaf}`;
}
