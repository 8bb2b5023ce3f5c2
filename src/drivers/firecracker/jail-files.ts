import { chmod, chown, copyFile, link, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { bindFile, unmountUnder } from './jail-mounts.ts';
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
export async function resetJail(jailRoot: string, runner: ProcessRunner): Promise<void> {
  await removeJail(jailRoot, runner);
  await mkdir(jailRoot, { recursive: true });
}

/**
 * Removes `<base>/<exec>/<key>`; only hard links, copies and bind mounts live there, never
 * originals (the mounts are undone first).
 */
export async function removeJail(jailRoot: string, runner: ProcessRunner): Promise<void> {
  await unmountUnder(runner, dirname(jailRoot));
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
 * Makes `source` visible inside the chroot at `target`: a hard link on the same filesystem
 * (writes stay on the original inode), a bind mount from another one (jail-mounts.ts).
 * Writable files are handed to the jail user; a private read-only one is given as a copy the
 * jail user owns, made on the original's filesystem (a tmpfs secret stays on tmpfs).
 */
export async function stageFile(
  source: string,
  target: string,
  owner: JailOwner,
  writable: boolean,
  runner: ProcessRunner,
): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const linked = await link(source, target).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'EXDEV') return false;
      throw stageError(source, target, error);
    },
  );
  if (!linked) {
    if (writable) await chown(source, owner.uid, owner.gid);
    const visible = writable ? source : await readableVersion(source, `${source}.jail`, owner);
    await bindFile(runner, visible, target, writable);
    return;
  }
  if (writable) {
    await chown(target, owner.uid, owner.gid);
    return;
  }
  if (await readableBy(target, owner)) return;
  await rm(target);
  await readableVersion(source, target, owner);
}

/** `source` if the jail user can read it, else a copy at `copy` only that user may read. */
async function readableVersion(source: string, copy: string, owner: JailOwner): Promise<string> {
  if (await readableBy(source, owner)) return source;
  // A private original: the jail gets its own copy rather than a loosened original.
  await copyFile(source, copy);
  await chown(copy, owner.uid, owner.gid);
  await chmod(copy, 0o400);
  return copy;
}

async function readableBy(path: string, owner: JailOwner): Promise<boolean> {
  const info = await stat(path);
  if (info.mode & 0o004) return true;
  if (info.uid === owner.uid && info.mode & 0o400) return true;
  return info.gid === owner.gid && (info.mode & 0o040) !== 0;
}

function stageError(source: string, target: string, error: NodeJS.ErrnoException): HostError {
  const hint = 'check that the file exists and the chroot base dir is writable';
  return new HostError(
    `could not stage ${source} into the jail at ${target}: ${error.message}; ${hint}`,
    {
      source,
      target,
      code: error.code,
    },
  );
}
