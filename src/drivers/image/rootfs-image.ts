import { open } from 'node:fs/promises';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { buildReproducibleExt4 } from './reproducible-ext4.ts';

/** ext4's magic 0xEF53 at byte 1080, erofs's 0xE0F5E1E2 at byte 1024 (both little-endian). */
export async function rootfsFormatOf(path: string): Promise<'ext4' | 'erofs'> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(1082);
    await file.read(head, 0, head.length, 0);
    if (head.readUInt16LE(1080) === 0xef53) return 'ext4';
    if (head.readUInt32LE(1024) === 0xe0f5e1e2) return 'erofs';
  } finally {
    await file.close();
  }
  throw new HostError(`${path} is neither an ext4 nor an erofs filesystem image`);
}

/**
 * A read-only ext4 (label `rootfs`) of a directory tree, with the OCI importer's reproducible
 * mkfs: sized from the apparent size plus inode headroom, fixed UUID, hash seed and times
 * (derived from `seedHex`, the output's own hash), so equal trees give equal bytes.
 */
export async function ext4FromDir(
  runner: ProcessRunner,
  dir: string,
  path: string,
  seedHex: string,
): Promise<void> {
  await buildReproducibleExt4(runner, { sourceDir: dir, path, label: 'rootfs', seedHex });
}
