/**
 * The pieces the wake got faster with (docs/wake-overhead.md): a woken instance's snapshot is
 * renamed away at once and removed in the background, and the independent parts of a wake's
 * preparation run side by side yet never leave one running behind a failure.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DISCARDED_PREFIX, discardSnapshot } from '../../src/agent/runtime/discard-snapshot.ts';
import { allSettledOrThrow } from '../../src/agent/runtime/vm-spec.ts';
import { PhaseTimer } from '../../src/drivers/clock/phase-timer.ts';
import { silentLogger } from '../../src/ports/logger.ts';

describe('discardSnapshot', () => {
  let root = '';
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-wake-cuts-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('takes the snapshot out of the numbering at once and removes it soon after', async () => {
    const snapshots = join(root, 'snapshots');
    await mkdir(join(snapshots, '1'), { recursive: true });
    await writeFile(join(snapshots, '1', 'vm.state'), Buffer.alloc(4 * 1024 * 1024, 1));
    await discardSnapshot(join(snapshots, '1'), silentLogger);
    expect(existsSync(join(snapshots, '1'))).toBe(false);
    // Whatever is left is a dot name, which the next sleep's numbering skips.
    const left = await readdir(snapshots);
    expect(left.every((name) => name.startsWith(DISCARDED_PREFIX))).toBe(true);
    expect(left.map(Number).filter(Number.isInteger)).toEqual([]);
    const deadline = Date.now() + 10_000;
    while ((await readdir(snapshots)).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await readdir(snapshots)).toEqual([]);
  });

  it('is a no-op for a snapshot that is already gone', async () => {
    await expect(discardSnapshot(join(root, 'snapshots', '7'), silentLogger)).resolves.toBe(
      undefined,
    );
  });
});

describe('allSettledOrThrow', () => {
  it('returns the results in order', async () => {
    const slow = new Promise<string>((resolve) => setTimeout(() => resolve('slow'), 20));
    expect(await allSettledOrThrow(slow, Promise.resolve(2))).toEqual(['slow', 2]);
  });

  it('throws the first failure only once every piece has settled', async () => {
    let slowDone = false;
    const slow = new Promise<void>((resolve) =>
      setTimeout(() => {
        slowDone = true;
        resolve();
      }, 50),
    );
    const failing = Promise.reject(new Error('drive build failed'));
    await expect(allSettledOrThrow(failing, slow)).rejects.toThrow('drive build failed');
    expect(slowDone).toBe(true);
  });
});

describe('PhaseTimer', () => {
  it('adds each stretch to its phase, repeated phases summed', async () => {
    const timer = new PhaseTimer();
    await new Promise((resolve) => setTimeout(resolve, 15));
    timer.mark('a');
    timer.mark('b');
    await new Promise((resolve) => setTimeout(resolve, 15));
    timer.mark('a');
    const ms = timer.ms;
    expect(Object.keys(ms)).toEqual(['a', 'b']);
    expect(ms['a']).toBeGreaterThanOrEqual(25);
    expect(ms['b']).toBeLessThan(ms['a'] ?? 0);
  });
});
