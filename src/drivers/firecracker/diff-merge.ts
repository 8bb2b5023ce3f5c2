/**
 * Turns a chain of Firecracker snapshots (one full, then diffs) into one loadable memory file.
 * A diff's memory file is sparse: exactly the dirtied pages are written, everything else is a
 * hole. Comparing against zero would miss pages the guest zeroed, so the written ranges come
 * from the filesystem's extent map (`filefrag`, FIEMAP) instead.
 */
import { constants } from 'node:fs';
import { copyFile, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { SnapshotRef } from '../../ports/vmm.ts';
import { MEMORY_FILE, snapshotChain } from './snapshot-files.ts';

const COPY_CHUNK_BYTES = 1 << 20;

export interface ByteRange {
  offset: number;
  length: number;
}

/** Parses `filefrag -v` output into written byte ranges (unwritten extents read as zeros). */
export function parseFilefrag(output: string): ByteRange[] {
  const blockSize = /blocks of (\d+) bytes/.exec(output)?.[1];
  if (blockSize === undefined) throw new Error('filefrag printed no block size');
  const ranges: ByteRange[] = [];
  for (const line of output.split('\n')) {
    const match = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):/.exec(line);
    if (!match || line.includes('unwritten')) continue;
    const first = Number(match[1]);
    const last = Number(match[2]);
    ranges.push({
      offset: first * Number(blockSize),
      length: (last - first + 1) * Number(blockSize),
    });
  }
  return ranges;
}

export async function writtenRanges(runner: ProcessRunner, file: string): Promise<ByteRange[]> {
  const result = await runner.run('filefrag', ['-s', '-v', file], { check: false });
  if (result.exitCode !== 0) {
    throw new HostError(
      `cannot read the extent map of diff snapshot memory ${file}: ${result.stderr.trim()}; diff snapshots need a filesystem with FIEMAP (ext4, xfs, btrfs)`,
      { file, exitCode: result.exitCode },
    );
  }
  return parseFilefrag(result.stdout);
}

/** The memory file to load for `ref`: a full snapshot's own file, or a merged copy at `dest`. */
export async function materializeMemory(
  ref: SnapshotRef,
  dest: string,
  runner: ProcessRunner,
): Promise<string> {
  const [full, ...diffs] = snapshotChain(ref);
  if (full === undefined || full.kind !== 'full') {
    throw new HostError(`snapshot ${ref.dir} does not rest on a full snapshot`, { dir: ref.dir });
  }
  if (diffs.length === 0) return join(full.dir, MEMORY_FILE);
  // A reflink when the filesystem offers one; a plain copy otherwise.
  await copyFile(join(full.dir, MEMORY_FILE), dest, constants.COPYFILE_FICLONE);
  const target = await open(dest, 'r+');
  try {
    for (const diff of diffs) await applyDiff(join(diff.dir, MEMORY_FILE), target, runner);
    await target.sync();
  } finally {
    await target.close();
  }
  return dest;
}

async function applyDiff(
  diffFile: string,
  target: FileHandle,
  runner: ProcessRunner,
): Promise<void> {
  const ranges = await writtenRanges(runner, diffFile);
  const source = await open(diffFile, 'r');
  try {
    for (const range of ranges) await copyRange(source, target, range);
  } finally {
    await source.close();
  }
}

async function copyRange(source: FileHandle, target: FileHandle, range: ByteRange): Promise<void> {
  const buffer = Buffer.alloc(Math.min(COPY_CHUNK_BYTES, range.length));
  for (let done = 0; done < range.length;) {
    const want = Math.min(buffer.length, range.length - done);
    const { bytesRead } = await source.read(buffer, 0, want, range.offset + done);
    // The last extent may run past the end of the file's apparent size.
    if (bytesRead === 0) return;
    await target.write(buffer, 0, bytesRead, range.offset + done);
    done += bytesRead;
  }
}
