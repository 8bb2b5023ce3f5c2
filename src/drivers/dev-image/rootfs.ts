import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { buildExt4Image } from '../drives/mkfs-ext4.ts';
import type { DriveLabel } from '../drives/mkfs-ext4.ts';
import type { CpioEntry } from './cpio-newc.ts';

export interface RootfsInputs {
  busybox: Uint8Array;
  applets: readonly string[];
}

/**
 * Mount points and writable places: the root itself stays read-only in every guest. `mvm` is
 * where the first stage mounts mvm's own drive (init and agent); the image carries neither.
 */
const DIRS = [
  'bin',
  'data',
  'dev',
  'etc',
  'etc/mvm-config',
  'lib',
  'mnt',
  'mvm',
  'proc',
  'root',
  'run',
  'sbin',
  'sys',
  'tmp',
  'usr',
];

/** Every entry of the dev image's read-only root filesystem: a busybox userland. */
export function rootfsEntries(inputs: RootfsInputs): CpioEntry[] {
  const entries: CpioEntry[] = DIRS.map((path) => ({ kind: 'dir', path }));
  entries.push({ kind: 'file', path: 'bin/busybox', data: inputs.busybox, mode: 0o755 });
  for (const applet of new Set(inputs.applets)) {
    if (applet === 'busybox' || !/^[A-Za-z0-9_.[-]+$/.test(applet)) continue;
    entries.push({ kind: 'symlink', path: `bin/${applet}`, target: 'busybox' });
  }
  entries.push({ kind: 'symlink', path: 'usr/bin', target: '../bin' });
  entries.push({ kind: 'symlink', path: 'usr/sbin', target: '../bin' });
  entries.push({
    kind: 'file',
    path: 'etc/passwd',
    data: Buffer.from('root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n'),
  });
  entries.push({
    kind: 'file',
    path: 'etc/group',
    data: Buffer.from('root:x:0:\ntty:x:5:\nnogroup:x:65534:\n'),
  });
  return entries;
}

/** A digest of the tree's content (paths, kinds, modes, bytes), independent of ext4 layout. */
export function hashEntries(entries: readonly CpioEntry[]): string {
  const hash = createHash('sha256');
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const entry of sorted) {
    hash.update(`${entry.kind}\0${entry.path}\0`);
    if (entry.kind === 'file') hash.update(`${entry.mode ?? 0o644}\0`).update(entry.data);
    if (entry.kind === 'symlink') hash.update(entry.target);
    if (entry.kind === 'chardev') hash.update(`${entry.major}:${entry.minor}`);
    hash.update('\n');
  }
  return hash.digest('hex');
}

const MIB = 1024 * 1024;

/**
 * Writes the tree into a scratch directory and turns it into a read-only ext4 image (label
 * `rootfs` unless told) with `mkfs.ext4 -d` (no mounts). No journal: nobody writes to it.
 */
export async function buildRootfsImage(
  runner: ProcessRunner,
  path: string,
  entries: readonly CpioEntry[],
  mkfsPath = 'mkfs.ext4',
  label: DriveLabel = 'rootfs',
): Promise<void> {
  const scratch = await mkdtemp(join(dirname(path), '.rootfs-tree-'));
  try {
    let bytes = 0;
    for (const entry of [...entries].sort((a, b) => a.path.length - b.path.length)) {
      const target = join(scratch, entry.path);
      if (entry.kind === 'dir') {
        await mkdir(target, { recursive: true, mode: entry.mode ?? 0o755 });
      } else if (entry.kind === 'symlink') {
        await mkdir(dirname(target), { recursive: true });
        await symlink(entry.target, target);
      } else if (entry.kind === 'file') {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, entry.data);
        await chmod(target, entry.mode ?? 0o644);
        bytes += Math.ceil(entry.data.length / 4096) * 4096;
      }
    }
    // /tmp is a mount point for a tmpfs; on the image it must still look like one.
    if (entries.some((e) => e.path === 'tmp')) await chmod(join(scratch, 'tmp'), 0o1777);
    const sizeBytes = Math.ceil((bytes * 1.3 + 8 * MIB) / MIB) * MIB;
    await buildExt4Image(runner, mkfsPath, path, {
      label,
      sizeBytes,
      mode: 0o644,
      sourceDir: scratch,
      // Inode numbers below 11 are reserved and every symlink takes one: be generous.
      content: { fileCount: entries.length * 2 + 64 },
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
