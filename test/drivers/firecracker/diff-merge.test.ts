import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { materializeMemory } from '../../../src/drivers/firecracker/diff-merge.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import type { SnapshotRef } from '../../../src/ports/vmm.ts';

const PAGE = 4096;

describe('materializeMemory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-merge-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A diff memory file the way Firecracker writes one: sparse, dirty pages at their offsets. */
  async function sparseDiff(path: string, pages: Record<number, number>): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true });
    const file = await open(path, 'w');
    await file.truncate(16 * PAGE);
    for (const [page, byte] of Object.entries(pages)) {
      await file.write(Buffer.alloc(PAGE, byte), 0, PAGE, Number(page) * PAGE);
    }
    await file.close();
  }

  it('uses a full snapshot as is, and merges a diff chain page by page, zeroed pages included', async () => {
    const fullDir = join(dir, 'full');
    await mkdir(fullDir);
    await writeFile(join(fullDir, 'memory'), Buffer.alloc(16 * PAGE, 0x41));
    const full: SnapshotRef = { dir: fullDir, kind: 'full', sizeBytes: 0 };
    const runner = new NodeProcessRunner();
    expect(await materializeMemory(full, join(dir, 'unused'), runner)).toBe(
      join(fullDir, 'memory'),
    );

    await sparseDiff(join(dir, 'd1', 'memory'), { 3: 0x42, 10: 0x00 });
    await sparseDiff(join(dir, 'd2', 'memory'), { 3: 0x43 });
    const d1: SnapshotRef = { dir: join(dir, 'd1'), kind: 'diff', base: full, sizeBytes: 0 };
    const d2: SnapshotRef = { dir: join(dir, 'd2'), kind: 'diff', base: d1, sizeBytes: 0 };
    const merged = await readFile(await materializeMemory(d2, join(dir, 'merged'), runner));

    const pageByte = (page: number) => merged[page * PAGE];
    expect(merged.length).toBe(16 * PAGE);
    expect(pageByte(0)).toBe(0x41);
    expect(pageByte(3)).toBe(0x43);
    // A page the guest zeroed is data, not a hole: a zero-compare merge would lose it.
    expect(pageByte(10)).toBe(0x00);
    expect(pageByte(15)).toBe(0x41);
  });
});
