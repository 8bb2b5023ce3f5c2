/**
 * `mvm image build --dev` and `mvm image list`, in-process through runCli, against the real
 * builder (Debian kernel from the shared cache, host busybox-static). The image cache is
 * private to the test; its `kernels/` links to the shared one so the kernel is fetched once.
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltImage } from '../../src/cli/commands/image/build.ts';
import type { CachedImage } from '../../src/cli/commands/image/image-cache.ts';
import { DEFAULT_CACHE_DIR } from '../../src/drivers/dev-image/cache-dir.ts';
import { ensureDevKernel } from '../../src/drivers/dev-image/kernel.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import { runIn } from './support/run-cli.ts';

describe('mvm image build --dev / image list', () => {
  let cacheDir = '';

  beforeAll(async () => {
    const shared = DEFAULT_CACHE_DIR;
    await ensureDevKernel(shared, new NodeProcessRunner());
    cacheDir = await mkdtemp(join(tmpdir(), 'mvm-cli-img-'));
    await symlink(join(shared, 'kernels'), join(cacheDir, 'kernels'));
  });
  afterAll(() => rm(cacheDir, { recursive: true, force: true }));

  it('lists an empty cache with a hint', async () => {
    const run = await runIn(['image', 'list', '--cache-dir', cacheDir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("build one with 'mvm image build --dev'");
  });

  it('builds once, then reports the same revision from the cache', async () => {
    const build = ['image', 'build', '--dev', '--json', '--cache-dir', cacheDir];
    const first = await runIn(build);
    expect(first.code, first.stderr).toBe(0);
    // With --json, progress goes to stderr and stdout is exactly the JSON document.
    expect(first.stderr).toContain(`dev image: resolving in ${cacheDir}`);
    expect(first.stderr).toContain('built dev image');
    const built = JSON.parse(first.stdout) as BuiltImage;
    expect(built).toMatchObject({ cached: false, dir: join(cacheDir, 'images', built.revision) });
    expect(built.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(built.vmlinuxBytes).toBeGreaterThan(1024 * 1024);
    expect(built.initrdBytes).toBeGreaterThan(0);
    expect(built.rootfs).toBe(join(built.dir, 'rootfs.ext4'));
    expect(built.rootfsBytes).toBeGreaterThan(0);

    const second = await runIn(build);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('found in the cache');
    const again = JSON.parse(second.stdout) as BuiltImage;
    expect(again).toMatchObject({ cached: true, revision: built.revision, dir: built.dir });
  });

  it('shows a human summary and lists the cached revision', async () => {
    const human = await runIn(['image', 'build', '--dev', '--cache-dir', cacheDir]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/dev image [0-9a-f]{12} \(from cache\)/);
    expect(human.stdout).toMatch(/initrd:\s+\S+initrd\.cpio\.gz \(\d+\.\d MiB\)/);
    expect(human.stdout).toMatch(/rootfs:\s+\S+rootfs\.ext4 \(\d+\.\d MiB, read-only\)/);

    const list = await runIn(['image', 'list', '--json', '--cache-dir', cacheDir]);
    const images = JSON.parse(list.stdout) as CachedImage[];
    expect(images).toHaveLength(1);
    expect(human.stdout).toContain(images[0]?.revision ?? 'missing');
  });

  it('refuses to build without --dev, as a usage error', async () => {
    const run = await runIn(['image', 'build', '--cache-dir', cacheDir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("run 'mvm image build --dev'");
  });
});
