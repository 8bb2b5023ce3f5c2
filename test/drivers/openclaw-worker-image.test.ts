/**
 * The openclaw-worker image built for real from this host's Debian files: reproducible (two
 * caches, one manifest digest), a cache hit the second time, and what OpenClaw's remote
 * sandbox needs really runs from its unpacked root (umoci, chroot): /bin/sh, python3, GNU
 * `stat -c` and `readlink -f`, tar.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  coreutilsPrograms,
  ensureWorkerImage,
} from '../../src/drivers/openclaw/openclaw-images.ts';
import { lddPaths } from '../../src/drivers/openclaw/image-tree.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';

const runner = new NodeProcessRunner();
const dirs: string[] = [];
const temp = async (label: string) => {
  const dir = await mkdtemp(join(tmpdir(), `mvm-ocw-${label}-`));
  dirs.push(dir);
  return dir;
};

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('openclaw-worker image', () => {
  it('is reproducible, cached by its inputs, and runs the sandbox tools', async () => {
    const [a, b] = [await temp('a'), await temp('b')];
    const first = await ensureWorkerImage(runner, a);
    const other = await ensureWorkerImage(runner, b);
    expect(first.cached).toBe(false);
    expect(other.manifestDigest).toBe(first.manifestDigest);
    expect(other.key).toBe(first.key);
    const again = await ensureWorkerImage(runner, a);
    expect(again).toMatchObject({
      cached: true,
      dir: first.dir,
      manifestDigest: first.manifestDigest,
    });

    const bundle = join(await temp('unpacked'), 'bundle');
    await runner.run('umoci', ['unpack', '--image', `${first.dir}:${first.tag}`, bundle]);
    const root = join(bundle, 'rootfs');
    const sh = (script: string) => runner.run('chroot', [root, '/bin/sh', '-c', script]);
    expect((await sh('python3 -c "import json, hashlib; print(json.dumps([1]))"')).stdout).toBe(
      '[1]\n',
    );
    expect((await sh('stat -c %a /etc/passwd')).stdout).toBe('644\n');
    expect((await sh('readlink -f /bin/sh')).stdout).toBe('/usr/bin/dash\n');
    expect((await sh('tar --version')).stdout).toContain('GNU tar');
    expect((await sh('ls /opt 2>&1 || echo none')).stdout).not.toContain('node');
  }, 300_000);

  it('reads ldd and dpkg listings', () => {
    expect(
      lddPaths(
        '\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n\t/lib64/ld-linux-x86-64.so.2 (0x7f)\n\tlibX.so => not found\n',
      ),
    ).toEqual(['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
    expect(
      coreutilsPrograms(
        '/.\n/bin\n/bin/ls\n/usr/bin/stat\n/usr/share/doc/coreutils\n/usr/bin/ls\n',
      ),
    ).toEqual(['ls', 'stat']);
  });
});
