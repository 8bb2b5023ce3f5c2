import { chown, copyFile, link, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { JailerConfig } from './vm-layout.ts';

export interface JailOwner {
  uid: number;
  gid: number;
}

export function ownerOf(jailer: JailerConfig): JailOwner {
  return { uid: jailer.uid, gid: jailer.gid };
}

/**
 * Starts every jailed launch from an empty chroot: the jailer refuses to mknod device nodes
 * that already exist, and stale sockets would stop Firecracker from binding.
 */
export async function resetJail(jailRoot: string): Promise<void> {
  await removeJail(jailRoot);
  await mkdir(jailRoot, { recursive: true });
}

/** Removes `<base>/<exec>/<key>`; only hard links and copies live there, never originals. */
export async function removeJail(jailRoot: string): Promise<void> {
  await rm(dirname(jailRoot), { recursive: true, force: true });
}

/** Firecracker 1.0 opens its log and metrics paths without creating them. */
export async function createOwnedFile(path: string, owner: JailOwner | undefined): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '', { flag: 'a' });
  if (owner) await chown(path, owner.uid, owner.gid);
}

export async function createOwnedDir(path: string, owner: JailOwner): Promise<void> {
  await mkdir(path, { recursive: true });
  await chown(path, owner.uid, owner.gid);
}

/**
 * Makes `source` visible inside the chroot at `target`. A hard link keeps writes on the
 * original inode, so writable drives must be linked (same filesystem as the chroot); read-only
 * files fall back to a copy. Writable files are handed to the jail user.
 */
export async function stageFile(
  source: string,
  target: string,
  owner: JailOwner,
  writable: boolean,
): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const linked = await link(source, target).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'EXDEV' && !writable) return false;
      throw stageError(source, target, error);
    },
  );
  if (writable) {
    await chown(target, owner.uid, owner.gid);
    return;
  }
  if (linked && (await readableBy(target, owner))) return;
  // A private read-only original: give the jail its own copy rather than loosen the original.
  if (linked) await rm(target);
  await copyFile(source, target);
  await chown(target, owner.uid, owner.gid);
}

async function readableBy(path: string, owner: JailOwner): Promise<boolean> {
  const info = await stat(path);
  if (info.mode & 0o004) return true;
  if (info.uid === owner.uid && info.mode & 0o400) return true;
  return info.gid === owner.gid && (info.mode & 0o040) !== 0;
}

function stageError(source: string, target: string, error: NodeJS.ErrnoException): HostError {
  const hint =
    error.code === 'EXDEV'
      ? 'writable drives are hard-linked into the jail, so keep them on the same filesystem as the chroot base dir'
      : 'check that the file exists and the chroot base dir is writable';
  return new HostError(
    `could not stage ${source} into the jail at ${target}: ${error.message}; ${hint}`,
    {
      source,
      target,
      code: error.code,
    },
  );
}
