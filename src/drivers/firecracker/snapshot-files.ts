/**
 * On-disk form of a Firecracker snapshot: `<dir>/{vmstate,memory,meta.json}`. A snapshot is
 * written under a temporary sibling and renamed into place only once complete, so `dir`
 * either holds a whole snapshot or does not exist.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AlreadyExistsError, NotFoundError } from '../../core/errors.ts';
import type { SnapshotRef } from '../../ports/vmm.ts';

export const VMSTATE_FILE = 'vmstate';
export const MEMORY_FILE = 'memory';
const META_FILE = 'meta.json';
const LAST_SNAPSHOT_FILE = 'last-snapshot.json';

export interface SnapshotMeta {
  kind: 'full' | 'diff';
  /** Directory of the snapshot a diff applies on. */
  baseDir?: string;
  firecrackerVersion: string;
  /** As the VMM saw it: a restore binds the vsock UDS here unless overridden. */
  vsockVmmPath: string;
  taps: { ifaceId: string; tap: string }[];
  createdAt: string;
}

export async function beginSnapshotDir(dir: string): Promise<string> {
  if (await exists(dir)) {
    throw new AlreadyExistsError('snapshot directory', dir, 'pick a new directory per snapshot');
  }
  await mkdir(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  return tmp;
}

/** Writes the metadata, flushes it, then publishes the directory with one rename. */
export async function commitSnapshotDir(
  tmp: string,
  dir: string,
  meta: SnapshotMeta,
): Promise<void> {
  await writeDurably(join(tmp, META_FILE), JSON.stringify(meta, null, 2));
  await fsyncPath(tmp);
  await rename(tmp, dir);
  await fsyncPath(dirname(dir));
}

export async function abandonSnapshotDir(tmp: string): Promise<void> {
  await rm(tmp, { recursive: true, force: true });
}

export async function readSnapshotMeta(dir: string): Promise<SnapshotMeta> {
  const text = await readFile(join(dir, META_FILE), 'utf8').catch(() => {
    throw new NotFoundError(
      'snapshot',
      dir,
      'the directory holds no complete Firecracker snapshot',
    );
  });
  return JSON.parse(text) as SnapshotMeta;
}

/** Disk actually used: a diff's memory file is sparse, so apparent size would overstate it. */
export async function snapshotSize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const info = await stat(join(dir, name));
    total += info.blocks * 512;
  }
  return total;
}

/** Rebuilds the full chain of refs from the metadata on disk. */
export async function snapshotRefFromDir(dir: string): Promise<SnapshotRef> {
  const meta = await readSnapshotMeta(dir);
  const ref: SnapshotRef = { dir, kind: meta.kind, sizeBytes: await snapshotSize(dir) };
  if (meta.baseDir !== undefined) ref.base = await snapshotRefFromDir(meta.baseDir);
  return ref;
}

/** Oldest first: the full snapshot, then each diff on top of it. */
export function snapshotChain(ref: SnapshotRef): SnapshotRef[] {
  const chain: SnapshotRef[] = [];
  for (let cur: SnapshotRef | undefined = ref; cur; cur = cur.base) chain.unshift(cur);
  return chain;
}

/**
 * The snapshot a VM's next diff applies on: its newest snapshot of either kind, or the one it
 * was restored from. Kept in the work dir so it survives an agent restart. Not fsynced: it
 * describes a running VMM, and whatever loses the page cache (a host crash) loses the VMM too;
 * the fsync cost ~7 ms of every restore on a loaded disk (bench/firecracker-overhead.ts).
 */
export async function recordLastSnapshot(workDir: string, dir: string): Promise<void> {
  await writeFile(join(workDir, LAST_SNAPSHOT_FILE), JSON.stringify({ dir }));
}

export async function lastSnapshotDir(workDir: string): Promise<string | undefined> {
  const text = await readFile(join(workDir, LAST_SNAPSHOT_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const dir = (JSON.parse(text) as { dir?: unknown }).dir;
  return typeof dir === 'string' && (await exists(dir)) ? dir : undefined;
}

export async function forgetLastSnapshot(workDir: string): Promise<void> {
  await rm(join(workDir, LAST_SNAPSHOT_FILE), { force: true });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function writeDurably(path: string, text: string): Promise<void> {
  await writeFile(path, text);
  await fsyncPath(path);
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
