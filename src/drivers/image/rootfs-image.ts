import { open, readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { buildExt4Image } from '../drives/mkfs-ext4.ts';

const MIB = 1024 * 1024;
/** Where mvm's first stage mounts things: an image without them cannot boot. */
const MOUNT_POINTS = ['dev', 'proc', 'sys', 'mvm'];

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

/** Apparent bytes (rounded to blocks) and entries of a tree, without following links. */
async function treeSize(dir: string): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  const walk = async (path: string): Promise<void> => {
    for (const name of await readdir(path)) {
      const info = await lstat(join(path, name));
      entries += 1;
      if (info.isFile()) bytes += Math.ceil(info.size / 4096) * 4096;
      else if (info.isDirectory()) await walk(join(path, name));
    }
  };
  await walk(dir);
  return { bytes, entries };
}

/**
 * A read-only ext4 image (label `rootfs`) of a directory tree, with `mkfs.ext4 -d`: no mounts.
 * Sized from the tree's apparent size plus inode headroom, so trees of many small files fit
 * the first time; reproducible (fixed UUID, hash seed and times) for equal trees.
 */
export async function ext4FromDir(runner: ProcessRunner, dir: string, path: string): Promise<void> {
  const missing = [];
  for (const name of MOUNT_POINTS) {
    if (!(await lstat(join(dir, name)).catch(() => undefined))?.isDirectory()) missing.push(name);
  }
  if (missing.length > 0) {
    throw new HostError(
      `the image's rootfs has no ${missing.map((m) => `/${m}`).join(', ')}: mvm's first stage mounts there; create them (empty directories) in the image`,
    );
  }
  const { bytes, entries } = await treeSize(dir);
  // Each inode is 256 bytes; block groups, bitmaps and directories want a quarter more.
  const sizeBytes = Math.ceil((bytes * 1.25 + entries * 512 + 16 * MIB) / MIB) * MIB;
  await buildExt4Image(runner, 'mkfs.ext4', path, {
    label: 'rootfs',
    sizeBytes,
    mode: 0o644,
    sourceDir: dir,
    content: { fileCount: entries * 2 + 64 },
  });
}
