import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { packCpio } from '../../../src/drivers/dev-image/cpio-newc.ts';
import { extractVmlinux, findPayload } from '../../../src/drivers/dev-image/extract-vmlinux.ts';
import { buildInitramfs } from '../../../src/drivers/dev-image/initramfs.ts';
import { compareVersions, pickNewest } from '../../../src/drivers/dev-image/kernel.ts';
import { resolveModuleOrder } from '../../../src/drivers/dev-image/module-order.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';

describe('packCpio', () => {
  it('writes newc records with fixed metadata, sorted, padded, with a trailer', () => {
    const archive = packCpio([
      { kind: 'file', path: 'b', data: Buffer.from('hi') },
      { kind: 'dir', path: 'a' },
    ]);
    const text = archive.toString('latin1');
    expect(text.startsWith('070701')).toBe(true);
    expect(text.indexOf('a\0')).toBeLessThan(text.indexOf('b\0'));
    expect(text).toContain('TRAILER!!!');
    expect(archive.length % 512).toBe(0);
    // mtime (6th field) is zero for every record.
    expect(text.slice(6 + 5 * 8, 6 + 6 * 8)).toBe('00000000');
  });

  it('is byte-for-byte reproducible', () => {
    const inputs = {
      busybox: Buffer.from('\x7fELF fake'),
      applets: ['sh', 'ls'],
      init: '#!/bin/sh\n',
      agent: '#!/bin/sh\n',
      modules: [{ name: 'virtio', data: Buffer.from('ko') }],
    };
    expect(
      buildInitramfs(inputs).equals(buildInitramfs({ ...inputs, applets: ['ls', 'sh'] })),
    ).toBe(true);
  });
});

describe('findPayload', () => {
  it('finds the compressed kernel from the bzImage header and drops the size trailer', () => {
    const image = Buffer.alloc(4096);
    image[0x1f1] = 1; // setup_sects: payload area starts at (1 + 1) * 512
    image.write('HdrS', 0x202, 'latin1');
    const payload = Buffer.from([0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4, 9, 9, 9, 9]);
    image.writeUInt32LE(100, 0x248);
    image.writeUInt32LE(payload.length, 0x24c);
    payload.copy(image, 1024 + 100);
    const found = findPayload(image);
    expect(found.compression).toBe('lz4');
    expect([...found.data]).toEqual([0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4]);
  });

  it('falls back to a magic search', () => {
    const gz = gzipSync(Buffer.from('kernel'));
    const found = findPayload(Buffer.concat([Buffer.alloc(64), gz]));
    expect(found.compression).toBe('gzip');
  });
});

describe('kernel package choice', () => {
  it('picks the newest version numerically', () => {
    const names = [
      'linux-image-6.1.0-9-cloud-amd64',
      'linux-image-6.1.0-56-cloud-amd64',
      'linux-image-6.1.0-56-amd64',
      'linux-image-6.1.0-10-cloud-amd64',
    ];
    expect(pickNewest(names, /^linux-image-(6\.1\.0-\d+-cloud-amd64)$/)).toBe(
      'linux-image-6.1.0-56-cloud-amd64',
    );
    expect(compareVersions('6.1.0-9', '6.1.0-10')).toBeLessThan(0);
  });
});

describe('resolveModuleOrder', () => {
  const dep = [
    'kernel/drivers/virtio/virtio_ring.ko:',
    'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
    'kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko',
    'kernel/fs/jbd2/jbd2.ko:',
    'kernel/lib/crc16.ko:',
    'kernel/crypto/crc32c_generic.ko:',
  ].join('\n');

  it('puts dependencies first and loads crc32c before ext4', () => {
    expect(resolveModuleOrder(['virtio_mmio', 'ext4'], { dep, builtin: '' })).toEqual([
      'kernel/drivers/virtio/virtio_ring.ko',
      'kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio_mmio.ko',
      'kernel/crypto/crc32c_generic.ko',
      'kernel/fs/jbd2/jbd2.ko',
      'kernel/lib/crc16.ko',
      'kernel/fs/ext4/ext4.ko',
    ]);
  });

  it('skips built-in modules and rejects unknown ones', () => {
    expect(resolveModuleOrder(['ext4'], { dep, builtin: 'kernel/fs/ext4/ext4.ko\n' })).toEqual([]);
    expect(() => resolveModuleOrder(['nope'], { dep, builtin: '' })).toThrow(/nope/);
  });
});

describe('extractVmlinux', () => {
  const runner = new NodeProcessRunner();
  const elf = Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(5000, 7)]);

  /** A minimal bzImage: boot header pointing at `payload` plus the 4-byte size trailer. */
  function fakeBzImage(payload: Buffer): Buffer {
    const head = Buffer.alloc(1024);
    head[0x1f1] = 1;
    head.write('HdrS', 0x202, 'latin1');
    head.writeUInt32LE(0, 0x248);
    head.writeUInt32LE(payload.length + 4, 0x24c);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(elf.length);
    return Buffer.concat([head, payload, size]);
  }

  // Each tool compresses `elf` into `z` file-to-file, as the kernel build does.
  const compressors = {
    xz: (dir: string) => ['-z', '-k', '-f', '-S', '.xz', '--check=crc32', join(dir, 'elf')],
    lz4: (dir: string) => ['-l', '-f', '-q', join(dir, 'elf'), join(dir, 'elf.lz4')],
  } as const;
  for (const tool of ['xz', 'lz4'] as const) {
    it(`decompresses a ${tool} kernel with the ${tool} tool`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mvm-bz-'));
      try {
        await writeFile(join(dir, 'elf'), elf);
        await runner.run(tool, compressors[tool](dir));
        const compressed = await readFile(join(dir, `elf.${tool}`));
        await writeFile(join(dir, 'bzImage'), fakeBzImage(compressed));
        expect(await extractVmlinux(join(dir, 'bzImage'), join(dir, 'vmlinux'), runner)).toBe(tool);
        expect((await readFile(join(dir, 'vmlinux'))).equals(elf)).toBe(true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
