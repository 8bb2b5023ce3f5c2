import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import type { BundleManifest } from '../../contract/move-bundle.ts';
import { partFile } from '../../drivers/move-bundle/bundle-export.ts';

/**
 * A part of an exported bundle from a byte offset (Range-style), for the target to resume
 * a transfer where it stopped. Only parts the manifest names are served.
 */
export function openPart(
  dir: string,
  manifest: BundleManifest,
  name: string,
  offset: number,
): Readable {
  const part = manifest.parts.find((p) => p.name === name);
  if (!part) throw new NotFoundError('bundle part', name);
  if (!Number.isInteger(offset) || offset < 0 || offset > part.bytes) {
    throw new ValidationError(`offset ${offset} is outside part '${name}' (0 to ${part.bytes})`);
  }
  return createReadStream(partFile(dir, name), { start: offset });
}
