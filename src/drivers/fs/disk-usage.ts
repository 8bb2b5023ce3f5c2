import { lstat, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What files occupy on disk, as `du` counts it: allocated blocks (a sparse drive image counts
 * what it holds, not its size), each inode once across every call that shares `seen` (the
 * dev image hard-links its kernel from the kernel cache). Symlinks are not followed.
 */
export interface Usage {
  files: number;
  bytes: number;
}

export type SeenInodes = Set<string>;

/** Calls `visit` for every regular file under `path` (or `path` itself), depth first. */
export async function walkFiles(
  path: string,
  visit: (file: string, bytes: number, ino: string) => void,
): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return;
  if (info.isDirectory()) {
    const names = await readdir(path).catch(() => [] as string[]);
    for (const name of names.sort()) await walkFiles(join(path, name), visit);
    return;
  }
  if (info.isFile()) visit(path, info.blocks * 512, `${info.dev}:${info.ino}`);
}

/** Allocated bytes under `path`; inodes already in `seen` count nothing. */
export async function usageOf(path: string, seen: SeenInodes = new Set()): Promise<Usage> {
  const usage: Usage = { files: 0, bytes: 0 };
  await walkFiles(path, (_file, bytes, ino) => {
    if (seen.has(ino)) return;
    seen.add(ino);
    usage.files += 1;
    usage.bytes += bytes;
  });
  return usage;
}

/** Size and space left (for the unprivileged) of the filesystem holding `path`. */
export async function filesystemOf(
  path: string,
): Promise<{ totalBytes: number; freeBytes: number }> {
  const fs = await statfs(path).catch(() => undefined);
  if (!fs) return { totalBytes: 0, freeBytes: 0 };
  return { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize };
}
