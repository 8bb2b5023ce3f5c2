/**
 * The dev image builder against the real Debian kernel package (downloaded once into the
 * shared cache) and the host's busybox-static. Images go to a private cache dir whose
 * `kernels/` links to the shared one, so the kernel is not fetched twice.
 */
import { mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDevImage } from '../../../src/drivers/dev-image/build-dev-image.ts';
import { DEFAULT_CACHE_DIR } from '../../../src/drivers/dev-image/cache-dir.ts';
import { ensureDevKernel } from '../../../src/drivers/dev-image/kernel.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';

const runner = new NodeProcessRunner();

describe('dev image', () => {
  let cacheDir: string;
  beforeAll(async () => {
    const shared = DEFAULT_CACHE_DIR;
    await ensureDevKernel(shared, runner);
    cacheDir = await mkdtemp(join(tmpdir(), 'mvm-img-'));
    await symlink(join(shared, 'kernels'), join(cacheDir, 'kernels'));
  });
  afterAll(() => rm(cacheDir, { recursive: true, force: true }));

  it('ensureDevKernel gives a PVH-bootable ELF vmlinux and a depmod-ed module tree', async () => {
    const kernel = await ensureDevKernel(cacheDir, runner);
    expect(kernel.version).toMatch(/^\d+\.\d+\.\d+-\d+-(cloud-)?amd64$/);
    const head = (await readFile(kernel.vmlinux)).subarray(0, 4);
    expect(head.toString('latin1')).toBe('\x7fELF');
    expect((await stat(join(kernel.modulesDir, 'modules.dep'))).size).toBeGreaterThan(0);
  });

  it('builds a content-addressed image with a manifest', async () => {
    const image = await buildDevImage({ cacheDir, runner });
    expect(image.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(image.dir).toBe(join(cacheDir, 'images', image.revision));
    expect(image.cmdlineBase).toContain('console=ttyS0');
    const manifest = JSON.parse(await readFile(join(image.dir, 'manifest.json'), 'utf8')) as {
      revision: string;
      modules: string[];
    };
    expect(manifest.revision).toBe(image.revision);
    expect(manifest.modules).toEqual(expect.arrayContaining(['virtio_mmio', 'virtio_console']));
    const initrd = await readFile(image.initrd);
    expect(initrd.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it('returns the cached revision on the second build without rebuilding', async () => {
    const first = await buildDevImage({ cacheDir, runner });
    const before = await stat(first.initrd);
    const second = await buildDevImage({ cacheDir, runner });
    expect(second.revision).toBe(first.revision);
    expect((await stat(second.initrd)).mtimeMs).toBe(before.mtimeMs);
  });

  it('is deterministic: rebuilding from scratch yields the same revision', async () => {
    const first = await buildDevImage({ cacheDir, runner });
    await rm(join(cacheDir, 'images'), { recursive: true, force: true });
    const rebuilt = await buildDevImage({ cacheDir, runner });
    expect(rebuilt.revision).toBe(first.revision);
  });

  it('keeps only the first stage in the initramfs: busybox, modules, /init', async () => {
    const image = await buildDevImage({ cacheDir, runner });
    const archive = gunzipSync(await readFile(image.initrd));
    const cpio = await runner.run('cpio', ['-it', '--quiet'], { input: archive });
    const names = cpio.stdout.split('\n');
    for (const name of ['init', 'bin/busybox', 'bin/switch_root', 'dev/console', 'newroot']) {
      expect(names).toContain(name);
    }
    for (const mod of [
      'virtio_mmio',
      'virtio_blk',
      'vmw_vsock_virtio_transport',
      'virtio_balloon',
    ]) {
      expect(names.some((n) => n.startsWith('lib/mvm/modules/') && n.endsWith(`-${mod}.ko`))).toBe(
        true,
      );
    }
    expect(names).not.toContain('lib/mvm/agent.sh');
  });

  it('puts the image on a read-only ext4 labelled rootfs, with a /mvm mount point and no mvm files', async () => {
    const image = await buildDevImage({ cacheDir, runner });
    const header = await runner.run('dumpe2fs', ['-h', image.rootfs]);
    expect(header.stdout).toMatch(/^Filesystem volume name:\s+rootfs$/m);
    expect(header.stdout).not.toMatch(/has_journal/);
    const listing = await runner.run('debugfs', ['-R', 'ls -p /', image.rootfs]);
    const names = listing.stdout.split('\n').map((line) => line.split('/')[5]);
    expect(names).toEqual(expect.arrayContaining(['bin', 'mvm', 'run', 'tmp', 'data', 'etc']));
    expect(names).not.toContain('sbin/init');
    const sbin = await runner.run('debugfs', ['-R', 'ls -p /sbin', image.rootfs]);
    expect(sbin.stdout).not.toMatch(/\/init\//);
  });

  it("puts init, agent and busybox on mvm's own read-only drive, shared by content", async () => {
    const image = await buildDevImage({ cacheDir, runner });
    expect(image.initDrive).toMatch(/\/init-drives\/[0-9a-f]{64}\/mvm-init\.ext4$/);
    const header = await runner.run('dumpe2fs', ['-h', image.initDrive]);
    expect(header.stdout).toMatch(/^Filesystem volume name:\s+mvm-init$/m);
    const root = await mkdtemp(join(tmpdir(), 'mvm-initdrive-'));
    try {
      await runner.run('debugfs', ['-R', `rdump / ${root}`, image.initDrive]);
      for (const file of ['init', 'bin/mvm-agent', 'bin/busybox', 'lib/agent.sh']) {
        expect((await stat(join(root, file))).mode & 0o111).not.toBe(0);
      }
      // The agent is static: it runs here as in any guest, with or without a libc of its own.
      const version = await runner.run(join(root, 'bin/mvm-agent'), ['version']);
      expect(version.stdout).toMatch(/^mvm-agent 2\.\d+\.\d+ \(protocol 2\)/);
      const ping = await runner.run(join(root, 'bin/mvm-agent'), ['--stdio'], {
        input: Buffer.from('{"id":7,"op":"ping"}\n'),
      });
      expect(JSON.parse(ping.stdout)).toEqual({ id: 7, ok: true, ready: true });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
