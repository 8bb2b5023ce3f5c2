import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PayloadTooLargeError, ValidationError } from '../../core/errors.ts';
import type { ArtifactRef } from '../../core/revision.ts';
import type { ArtifactStore } from '../../ports/artifact-store.ts';
import { publishIfAbsent } from '../drives/atomic-file.ts';

const HEX64 = /^[0-9a-f]{64}$/;

export interface ContentStoreModes {
  /** Of `sha256/` and the temp dir. */
  dir: number;
  /** Of every stored file. */
  file: number;
}

/** The coordinator's modes: its data dir is private, and so is every artifact in it. */
export const PRIVATE_MODES: ContentStoreModes = { dir: 0o700, file: 0o600 };

/**
 * An ArtifactStore in a directory: `<root>/sha256/<hex>`, written under `<root>/tmp/` first
 * (same filesystem), fsynced, then linked into place only if absent (a racing writer of the
 * same bytes never clobbers a file a reader has open), and the directory fsynced.
 */
export class ContentStore implements ArtifactStore {
  constructor(
    readonly root: string,
    private readonly modes: ContentStoreModes = PRIVATE_MODES,
  ) {}

  path(sha256: string): string {
    if (!HEX64.test(sha256)) throw new ValidationError(`'${sha256}' is not a sha256 hex digest`);
    return join(this.root, 'sha256', sha256);
  }

  async stat(sha256: string): Promise<ArtifactRef | undefined> {
    const info = await stat(this.path(sha256)).catch(() => undefined);
    return info?.isFile() ? { sha256, bytes: info.size } : undefined;
  }

  async putFile(path: string): Promise<ArtifactRef & { stored: boolean }> {
    return this.put(createReadStream(path));
  }

  async put(
    source: AsyncIterable<Uint8Array>,
    options: { expected?: string; maxBytes?: number } = {},
  ): Promise<ArtifactRef & { stored: boolean }> {
    const temp = await this.tempFile();
    try {
      const written = await writeHashing(source, temp, this.modes.file, options.maxBytes);
      if (options.expected !== undefined && written.sha256 !== options.expected) {
        throw new ValidationError(
          `the bytes sent have sha256 ${written.sha256}, not ${options.expected}; nothing was stored`,
        );
      }
      await mkdir(join(this.root, 'sha256'), { recursive: true, mode: this.modes.dir });
      const stored = await publishIfAbsent(temp, this.path(written.sha256));
      return { ...written, stored };
    } finally {
      await rm(temp, { force: true });
    }
  }

  async list(): Promise<Array<ArtifactRef & { mtimeMs: number }>> {
    const names = await readdir(join(this.root, 'sha256')).catch(() => [] as string[]);
    const out: Array<ArtifactRef & { mtimeMs: number }> = [];
    for (const name of names.filter((n) => HEX64.test(n)).sort()) {
      const info = await stat(this.path(name)).catch(() => undefined);
      if (info?.isFile()) out.push({ sha256: name, bytes: info.size, mtimeMs: info.mtimeMs });
    }
    return out;
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
  }

  private async tempFile(): Promise<string> {
    const dir = join(this.root, 'tmp');
    await mkdir(dir, { recursive: true, mode: this.modes.dir });
    await chmod(dir, this.modes.dir);
    return join(dir, `.put-${randomBytes(8).toString('hex')}`);
  }
}

/** Writes the stream to `path` (mode `mode`), hashing as it goes, then fsyncs it. */
export async function writeHashing(
  source: AsyncIterable<Uint8Array>,
  path: string,
  mode: number,
  maxBytes = Number.MAX_SAFE_INTEGER,
  flags: 'wx' | 'a' = 'wx',
): Promise<ArtifactRef> {
  const hash = createHash('sha256');
  let bytes = 0;
  const file = await open(path, flags, mode);
  try {
    for await (const chunk of source) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) throw new PayloadTooLargeError(maxBytes);
      hash.update(chunk);
      await file.write(chunk);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  await chmod(path, mode);
  return { sha256: hash.digest('hex'), bytes };
}

/** The sha256 of a file's bytes, read as a stream. */
export async function sha256OfFile(path: string): Promise<ArtifactRef> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    hash.update(chunk);
  }
  return { sha256: hash.digest('hex'), bytes };
}
