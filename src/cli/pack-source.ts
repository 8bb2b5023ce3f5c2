import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { ValidationError } from '../core/errors.ts';
import { isLocalFlake, isLocalImage, parseImageRef } from '../core/pool-source.ts';
import type { PoolSource } from '../core/pool-source.ts';

/** A source from this machine, ready to upload: a file and the sha256 of its bytes. */
export interface PackedSource {
  path: string;
  digest: string;
  bytes: number;
  /** What was packed, for the progress line. */
  what: string;
  cleanup(): Promise<void>;
}

/** The directory or file a local flake ref names. */
function flakePath(ref: string): string {
  const bare = ref.replace(/^(git\+file|path|file):(\/\/)?/, '').replace(/[?].*$/, '');
  return bare.startsWith('/') ? bare : join(process.cwd(), bare);
}

/**
 * Packs a source on this machine for the coordinator, which builds it: an `oci:DIR` layout
 * as an OCI archive (a tar of the layout), a local flake as a tarball with one top-level
 * directory (what Nix takes as a flake), archives as they are. Tars are reproducible (sorted,
 * times and owners zeroed), so packing the same tree twice uploads nothing the second time.
 * Undefined for sources the coordinator reaches itself.
 */
export async function packSource(source: PoolSource): Promise<PackedSource | undefined> {
  if (source.kind === 'nix') {
    if (!isLocalFlake(source.flake)) return undefined;
    const path = flakePath(source.flake);
    return (await isDir(path)) ? packDir(path, 'source/', `flake ${path}`) : asIs(path);
  }
  if (source.kind !== 'oci') return undefined;
  const ref = parseImageRef(source.ref);
  if (!ref || !isLocalImage(ref)) return undefined;
  if (ref.transport === 'oci') return packDir(ref.path, '', `OCI layout ${ref.path}`);
  return asIs(ref.path);
}

async function isDir(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new ValidationError(`'${path}' does not exist on this machine`);
  return info.isDirectory();
}

async function asIs(path: string): Promise<PackedSource> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { path, digest: hash.digest('hex'), bytes, what: path, cleanup: async () => undefined };
}

async function packDir(dir: string, prefix: string, what: string): Promise<PackedSource> {
  if (!(await isDir(dir))) throw new ValidationError(`'${dir}' is not a directory`);
  const scratch = await mkdtemp(join(tmpdir(), 'mvm-pack-'));
  const path = join(scratch, 'source.tar');
  const hash = createHash('sha256');
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const pack = tar.pack();
  const written = pipeline(pack, count, createWriteStream(path, { mode: 0o600 }));
  try {
    if (prefix !== '') await entry(pack, { name: prefix, type: 'directory', mode: 0o755 });
    await addTree(pack, dir, prefix);
    pack.finalize();
    await written;
  } catch (error) {
    pack.destroy();
    await written.catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
    throw error;
  }
  const cleanup = () => rm(scratch, { recursive: true, force: true });
  return { path, digest: hash.digest('hex'), bytes, what, cleanup };
}

const FIXED = { mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' };

/** What tar-stream's entry() takes (its header type is not exported). */
type EntryHeader = Parameters<tar.Pack['entry']>[0];

function entry(pack: tar.Pack, header: EntryHeader, body?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ ...FIXED, ...header }, body ?? '', (error) => (error ? reject(error) : resolve()));
  });
}

/** Adds a tree in name order: directories, regular files (with their mode) and symlinks. */
async function addTree(pack: tar.Pack, dir: string, prefix: string): Promise<void> {
  for (const name of (await readdir(dir)).sort()) {
    if (name === '.git') continue;
    const path = join(dir, name);
    const info = await lstat(path);
    const mode = info.mode & 0o7777;
    if (info.isDirectory()) {
      await entry(pack, { name: `${prefix}${name}/`, type: 'directory', mode });
      await addTree(pack, path, `${prefix}${name}/`);
    } else if (info.isSymbolicLink()) {
      await entry(pack, {
        name: `${prefix}${name}`,
        type: 'symlink',
        linkname: await readlink(path),
      });
    } else if (info.isFile()) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(
          { ...FIXED, name: `${prefix}${name}`, size: info.size, mode },
          (error) => (error ? reject(error) : resolve()),
        );
        pipeline(createReadStream(path), sink).catch(reject);
      });
    }
  }
}
