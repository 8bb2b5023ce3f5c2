/**
 * A read-only ext4 from a directory, byte for byte the same whenever the tree's content is:
 * `mkfs.ext4 -d` (no mount, no loop device) with a fixed UUID and hash seed and a fixed clock,
 * then the two times mkfs copies from the staging tree's inodes (ctime, set by the kernel on
 * every change, and atime, bumped when mkfs reads a file) pinned with debugfs. mkfs sorts
 * directory entries itself, so the order files were unpacked in does not matter.
 */
import { lstat, open, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXT4_BLOCK_BYTES, ext4Sizing, grown, uuidFromHex } from '../../core/rootfs-size.ts';
import type { Ext4Sizing, TreeMeasure } from '../../core/rootfs-size.ts';
import { HostError, errorMessage } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { DriveLabel } from '../drives/mkfs-ext4.ts';

/** mkfs's clock for superblock, lost+found and crtime; also the pinned atime and ctime. */
const FIXED_TIME = '1';
const FIXED_ENV = { E2FSPROGS_FAKE_TIME: FIXED_TIME, SOURCE_DATE_EPOCH: FIXED_TIME };
const MKFS_TIMEOUT_MS = 30 * 60_000;
const MAX_ATTEMPTS = 4;
const OUT_OF_ROOM =
  /Could not allocate|No space left|Not enough space|Could not find|too many inodes/i;

export interface ReproducibleExt4Options {
  sourceDir: string;
  /** Must not exist yet. */
  path: string;
  label: DriveLabel;
  /** 64 hex digits the UUID and hash seed derive from (a content digest). */
  seedHex: string;
  /** Called before each mkfs attempt (the first with the measured size). */
  onAttempt?: (attempt: number, sizing: Ext4Sizing) => void;
}

export interface BuiltExt4 {
  sizeBytes: number;
  attempts: number;
  tree: TreeMeasure;
}

export async function buildReproducibleExt4(
  runner: ProcessRunner,
  options: ReproducibleExt4Options,
): Promise<BuiltExt4> {
  const tree = await measureTree(options.sourceDir);
  let sizing = ext4Sizing(tree);
  let attempts = 1;
  for (; ; attempts += 1) {
    options.onAttempt?.(attempts, sizing);
    try {
      await mkfs(runner, options, sizing);
      break;
    } catch (error) {
      await rm(options.path, { force: true });
      if (attempts >= MAX_ATTEMPTS || !OUT_OF_ROOM.test(errorMessage(error))) throw error;
      sizing = grown(sizing);
    }
  }
  await pinInodeTimes(runner, options.path);
  return { sizeBytes: sizing.sizeBytes, attempts, tree };
}

async function mkfs(
  runner: ProcessRunner,
  options: ReproducibleExt4Options,
  sizing: Ext4Sizing,
): Promise<void> {
  const handle = await open(options.path, 'wx', 0o644);
  try {
    await handle.truncate(sizing.sizeBytes);
  } finally {
    await handle.close();
  }
  const uuid = uuidFromHex(options.seedHex);
  const hashSeed = uuidFromHex(options.seedHex.slice(32) + options.seedHex.slice(0, 32));
  const args = ['-q', '-F', '-t', 'ext4', '-L', options.label, '-b', String(EXT4_BLOCK_BYTES)];
  // Read-only: no journal, no blocks reserved for root; inodes as measured.
  args.push('-I', '256', '-O', '^has_journal', '-m', '0', '-N', String(sizing.inodes));
  args.push('-U', uuid, '-E', `hash_seed=${hashSeed}`, '-d', options.sourceDir, options.path);
  await runner.run('mkfs.ext4', args, { env: FIXED_ENV, timeoutMs: MKFS_TIMEOUT_MS });
}

/** Every inode in use gets the fixed atime and ctime (debugfs, one batch of commands). */
async function pinInodeTimes(runner: ProcessRunner, image: string): Promise<void> {
  const dump = await runner.run('dumpe2fs', [image], { env: FIXED_ENV });
  const inUse = inodesInUse(dump.stdout);
  const commands = inUse.flatMap((ino) => [
    `sif <${ino}> atime ${FIXED_TIME}`,
    `sif <${ino}> ctime ${FIXED_TIME}`,
  ]);
  const script = `${image}.debugfs`;
  await writeFile(script, `${commands.join('\n')}\n`);
  try {
    const out = await runner.run('debugfs', ['-w', '-f', script, image], { env: FIXED_ENV });
    // stderr holds the version banner and nothing else unless a command failed.
    const failed = out.stderr
      .split('\n')
      .map((line) => line.trim())
      .find((line) => line !== '' && !/^debugfs \d/.test(line));
    if (failed) throw new HostError(`debugfs could not pin inode times in ${image}: ${failed}`);
  } finally {
    await rm(script, { force: true });
  }
}

/** Inodes dumpe2fs does not list as free: the root (2) and 11 onwards. */
export function inodesInUse(dumpe2fs: string): number[] {
  const count = Number(/^Inode count:\s+(\d+)/m.exec(dumpe2fs)?.[1] ?? NaN);
  if (!Number.isInteger(count)) throw new HostError('dumpe2fs printed no inode count');
  const free = new Set<number>();
  for (const match of dumpe2fs.matchAll(/^\s+Free inodes: (.*)$/gm)) {
    for (const range of (match[1] ?? '').split(',')) {
      const [from, to] = range.trim().split('-').map(Number);
      if (from === undefined || !Number.isInteger(from)) continue;
      for (let ino = from; ino <= (to ?? from); ino += 1) free.add(ino);
    }
  }
  const used = [2];
  for (let ino = 11; ino <= count; ino += 1) if (!free.has(ino)) used.push(ino);
  return used;
}

/** What the tree needs on ext4: distinct inodes, whole data blocks, directory entries. */
export async function measureTree(root: string): Promise<TreeMeasure> {
  const seen = new Set<number>();
  const measure: TreeMeasure = { inodes: 1, dataBytes: 0, direntBytes: 0 };
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const st = await lstat(path);
      measure.direntBytes += 8 + Math.ceil(Buffer.byteLength(name) / 4) * 4;
      if (st.nlink > 1 && !st.isDirectory()) {
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
      }
      measure.inodes += 1;
      // Symlinks up to 59 bytes live in the inode; longer ones take a block.
      const inline = st.isSymbolicLink() && st.size < 60;
      if ((st.isFile() || st.isSymbolicLink()) && !inline) {
        measure.dataBytes += Math.ceil(st.size / EXT4_BLOCK_BYTES) * EXT4_BLOCK_BYTES;
      }
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return measure;
}
