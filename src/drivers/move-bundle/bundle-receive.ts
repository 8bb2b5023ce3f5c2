import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConflictError } from '../../core/errors.ts';
import type { BundleManifest, BundlePartManifest } from '../../contract/move-bundle.ts';
import { sha256File } from '../fs/sha256-file.ts';
import { partFile } from './bundle-export.ts';

const partialFile = (dir: string, name: string) => `${partFile(dir, name)}.partial`;

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * How many bytes of the part the target holds: all of them once checked and kept, else what
 * its partial file has (a transfer resumes there). A partial longer than the part is dropped.
 */
export async function receivedBytes(dir: string, part: BundlePartManifest): Promise<number> {
  if ((await sizeOf(partFile(dir, part.name))) === part.bytes) return part.bytes;
  const partial = (await sizeOf(partialFile(dir, part.name))) ?? 0;
  if (partial <= part.bytes) return partial;
  await rm(partialFile(dir, part.name), { force: true });
  return 0;
}

/**
 * Passes at most `limit` bytes and drops the rest: a part never grows beyond its size, and
 * its sha256 decides whether what was kept is the part.
 */
function capped(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: string, done: TransformCallback) {
      const room = Math.max(limit - seen, 0);
      seen += chunk.length;
      done(null, chunk.length <= room ? chunk : chunk.subarray(0, room));
    },
  });
}

/**
 * Appends bytes of a part from `offset`, which must be what the target already holds (else
 * a ConflictError names where to resume). A part received whole is checked against its
 * sha256: kept when it matches, dropped otherwise (ConflictError: fetch it again from 0).
 * A stream that ends early leaves a partial to resume from. Returns the bytes now held.
 */
export async function receivePart(
  dir: string,
  part: BundlePartManifest,
  offset: number,
  source: Readable,
): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const have = await receivedBytes(dir, part);
  if (offset !== have) {
    source.destroy();
    throw new ConflictError(`part '${part.name}' resumes at byte ${have}, not ${offset}`, {
      part: part.name,
      resumeAt: have,
    });
  }
  if (have === part.bytes) return have;
  const partial = partialFile(dir, part.name);
  await pipeline(
    source,
    capped(part.bytes - have),
    createWriteStream(partial, { flags: 'a', mode: 0o600 }),
  );
  const held = (await sizeOf(partial)) ?? 0;
  if (held < part.bytes) return held;
  if ((await sha256File(partial)) !== part.sha256) {
    await rm(partial, { force: true });
    throw new ConflictError(
      `part '${part.name}' does not match its sha256; it was dropped, fetch it again from byte 0`,
      { part: part.name, resumeAt: 0 },
    );
  }
  await rename(partial, partFile(dir, part.name));
  return part.bytes;
}

/** Bytes held of every part, by name: what a move's state records as received. */
export async function receivedOf(
  dir: string,
  manifest: BundleManifest,
): Promise<Record<string, number>> {
  const received: Record<string, number> = {};
  for (const part of manifest.parts) received[part.name] = await receivedBytes(dir, part);
  return received;
}
