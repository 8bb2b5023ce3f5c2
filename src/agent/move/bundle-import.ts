import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ConflictError } from '../../core/errors.ts';
import type { BundleManifest, BundlePartManifest } from '../../contract/move-bundle.ts';
import { HashingCounter, partFile } from '../../drivers/move-bundle/bundle-export.ts';
import { receivedBytes } from '../../drivers/move-bundle/bundle-receive.ts';

async function unpack(dir: string, part: BundlePartManifest, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
  const raw = new HashingCounter();
  const temp = `${dest}.import-tmp`;
  try {
    await pipeline(
      createReadStream(partFile(dir, part.name)),
      createGunzip(),
      raw,
      createWriteStream(temp, { mode: 0o600 }),
    );
    const sha256 = raw.digest();
    if (raw.bytes !== part.rawBytes || sha256 !== part.rawSha256) {
      throw new ConflictError(
        `part '${part.name}' unpacks to ${raw.bytes} bytes with sha256 ${sha256}, not the ${part.rawBytes} bytes and ${part.rawSha256} exported; nothing was imported`,
        { part: part.name },
      );
    }
    await rename(temp, dest);
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Unpacks a received bundle to the paths the caller gives each part, checking every file
 * against the size and sha256 it had on the source. Refused, with nothing changed at the
 * destinations, while a part is incomplete; a part that does not check out is not written.
 * Idempotent: importing again after a crash writes the same files again.
 */
export async function importBundle(
  dir: string,
  manifest: BundleManifest,
  destinations: Readonly<Record<string, string>>,
): Promise<void> {
  for (const part of manifest.parts) {
    if (destinations[part.name] === undefined) {
      throw new ConflictError(`part '${part.name}' has no destination; nothing was imported`);
    }
    const held = await receivedBytes(dir, part);
    if (held !== part.bytes) {
      throw new ConflictError(
        `part '${part.name}' is incomplete (${held} of ${part.bytes} bytes); finish the transfer first`,
        { part: part.name, resumeAt: held },
      );
    }
  }
  for (const part of manifest.parts) await unpack(dir, part, destinations[part.name] as string);
}
