import { createHash } from 'node:crypto';
import { chmod, open } from 'node:fs/promises';
import type { ProcessRunner } from '../../ports/process-runner.ts';

const MIB = 1024 * 1024;
/** Smallest content image: room for the superblock, group descriptors and a few inodes. */
const MIN_CONTENT_IMAGE_BYTES = 2 * MIB;
/** Allowance per file for its inode, directory entry and a partial last block. */
const PER_FILE_OVERHEAD_BYTES = 4096;
const BLOCK_BYTES = 4096;
/** mkfs.ext4 can take a while on a busy host; it must not hang an instance start forever. */
const MKFS_TIMEOUT_MS = 120_000;

export type DriveLabel = 'rootfs' | 'mvm-init' | 'mvm-run' | 'data' | 'secrets' | 'config';

export interface Ext4ImageSpec {
  /** The guest init mounts by label, so every image carries its kind. */
  label: DriveLabel;
  sizeBytes: number;
  /** Host file mode of the image. */
  mode: number;
  /** Directory copied into the image with `-d`; an empty filesystem when absent. */
  sourceDir?: string;
  /** Read-only images (secrets, config): no journal and no reserved blocks, and enough inodes. */
  content?: { fileCount: number };
}

/**
 * Builds an ext4 image at `path`, which must not exist yet: a sparse file of `sizeBytes`
 * (what `truncate -s` makes), then `mkfs.ext4` over it. No mounts, no loop devices.
 */
export async function buildExt4Image(
  runner: ProcessRunner,
  mkfsPath: string,
  path: string,
  spec: Ext4ImageSpec,
): Promise<void> {
  await createSparseFile(path, spec.sizeBytes, spec.mode);
  await formatExt4Image(runner, mkfsPath, path, spec);
  // mkfs.ext4 keeps the mode of an existing file, but say it explicitly: umask may differ.
  await chmod(path, spec.mode);
}

/**
 * Runs `mkfs.ext4` over the existing file at `path`. It writes that file's own inode (it opens
 * it read-write, neither truncates nor replaces it), so a VMM that opened the file before sees
 * the filesystem once this resolves: what lets a wake lay the secrets drive out while its VMM
 * restores (`layoutSecrets`).
 */
export async function formatExt4Image(
  runner: ProcessRunner,
  mkfsPath: string,
  path: string,
  spec: Ext4ImageSpec,
): Promise<void> {
  await runner.run(mkfsPath, mkfsArgs(path, spec), {
    timeoutMs: MKFS_TIMEOUT_MS,
    ...(spec.content !== undefined ? { env: REPRODUCIBLE_ENV } : {}),
  });
}

export function mkfsArgs(path: string, spec: Ext4ImageSpec): string[] {
  const args = ['-q', '-F', '-L', spec.label];
  if (spec.content !== undefined) {
    // A journal would take half of a 2 MiB image and is useless on a read-only drive.
    args.push('-O', '^has_journal', '-m', '0', '-N', String(spec.content.fileCount + 16));
    // Fixed UUID and hash seed (with REPRODUCIBLE_ENV and staged files of a fixed mtime): the
    // same files give the same bytes, so a guest can tell a rebuilt drive changed nothing.
    const uuid = labelUuid(spec.label);
    args.push('-U', uuid, '-E', `hash_seed=${uuid}`);
  }
  if (spec.sourceDir !== undefined) args.push('-d', spec.sourceDir);
  args.push(path);
  return args;
}

/** A new sparse file of `sizeBytes` at `path` (which must not exist), with `mode` (not umask's). */
export async function createSparseFile(
  path: string,
  sizeBytes: number,
  mode: number,
): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.truncate(sizeBytes);
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

/** mkfs.ext4's clock for superblock and inode times: fixed, so content images are reproducible. */
const REPRODUCIBLE_ENV = { E2FSPROGS_FAKE_TIME: '1', SOURCE_DATE_EPOCH: '1' };

/** A UUID that depends on the drive's label only. */
function labelUuid(label: DriveLabel): string {
  const hex = createHash('sha256').update(`mvm-drive:${label}`).digest('hex');
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Size for a read-only image holding `files`: their blocks plus slack, in whole MiB. */
export function contentImageBytes(files: Record<string, string>): number {
  let bytes = MIB;
  for (const content of Object.values(files)) {
    const length = Buffer.byteLength(content, 'utf8');
    bytes += Math.ceil(length / BLOCK_BYTES) * BLOCK_BYTES + PER_FILE_OVERHEAD_BYTES;
  }
  // A quarter extra covers extent blocks and bitmaps of larger files.
  const padded = Math.ceil((bytes * 1.25) / MIB) * MIB;
  return Math.max(MIN_CONTENT_IMAGE_BYTES, padded);
}

export const mibToBytes = (mib: number): number => mib * MIB;
