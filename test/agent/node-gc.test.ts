/**
 * `mvm node gc` through the local agent's API, without a guest: a real agent (serve mode, no
 * coordinator) owns one instance record; the test plants what a crash or an old build leaves
 * (a snapshot no instance wakes from, an instance dir no record owns, an image nothing boots,
 * its kernel, a dangling index file, an old staging dir) beside what is in use. The dry run
 * lists exactly the garbage; the real run removes it and nothing else; a second run finds none.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { BaseStore } from '../../src/agent/clones/base-store.ts';
import { baseKey } from '../../src/core/base-key.ts';
import { baseInputs, fillBase } from './base-fixture.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import type { GuestImage, ImageSource } from '../../src/agent/runtime/image-source.ts';
import { readTextFile } from '../../src/cli/config.ts';
import type { NodeGcReport } from '../../src/contract/agent-api.ts';
import { runIn } from '../cli/support/run-cli.ts';
import { quietLogger, tcgVmm, testAgentConfig } from './agent-harness.ts';

const hex = (c: string) => c.repeat(64);

const CURRENT = hex('c');
const OLD = hex('0');

async function file(path: string, bytes = 4096): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, Buffer.alloc(bytes, 1));
}

async function image(cacheDir: string, revision: string, kernel: string): Promise<string> {
  const dir = join(cacheDir, 'images', revision);
  await file(join(dir, 'rootfs.ext4'), 64 * 1024);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ kernel: { release: kernel } }));
  return dir;
}

/** The agent's image source, already resolved to the current image (no build). */
function resolvedImages(dir: string): ImageSource {
  const current: GuestImage = {
    revision: CURRENT,
    kernelPath: join(dir, 'vmlinux'),
    rootfsPath: join(dir, 'rootfs.ext4'),
    cmdlineBase: 'console=ttyS0',
  };
  return { resolve: async () => current, current: () => current };
}

describe('mvm node gc (local agent)', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  it('lists, then removes, only what nothing uses', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mvm-gc-'));
    cleanup.push(() => rm(root, { recursive: true, force: true }));
    const dataDir = join(root, 'data');
    const cacheDir = join(root, 'cache');
    const currentDir = await image(cacheDir, CURRENT, '6.1.0-2-test');
    const oldDir = await image(cacheDir, OLD, '6.1.0-1-test');
    await file(join(cacheDir, 'kernels', '6.1.0-2-test', 'vmlinux'));
    await file(join(cacheDir, 'kernels', '6.1.0-1-test', 'vmlinux'));
    await writeFile(join(cacheDir, 'kernels', 'newest.json'), '{}');
    await mkdir(join(cacheDir, 'images', 'by-input'), { recursive: true });
    await writeFile(join(cacheDir, 'images', 'by-input', 'k-current'), `${CURRENT}\n`);
    await writeFile(join(cacheDir, 'images', 'by-input', 'k-old'), `${OLD}\n`);
    const staging = join(cacheDir, 'images', '.tmp-abc-123');
    await file(join(staging, 'rootfs.ext4'));
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(staging, twoHoursAgo, twoHoursAgo);
    const fresh = join(cacheDir, 'images', '.tmp-def-456');
    await file(join(fresh, 'rootfs.ext4'));

    const agent: AgentHandle = await startAgent(
      testAgentConfig(dataDir, { MVM_NETWORK: 'off', MVM_CACHE_DIR: cacheDir, MVM_CLONES: 'on' }),
      { logger: quietLogger, vmm: tcgVmm(), cgroups: null, images: resolvedImages(currentDir) },
    );
    cleanup.push(() => agent.close());
    const ref = { tenantId: 'acme', poolId: 'web', instanceId: 'w1' };
    const record = await agent.runtime.put(ref, {
      spec: {
        role: 'worker',
        vcpus: 1,
        memMib: 256,
        dataDiskMib: 16,
        ip: '10.240.9.3',
        mac: '02:6d:76:00:09:03',
      },
    });
    const vmDir = join(dataDir, 'vms', record.key);
    await file(join(vmDir, 'drives', 'data.ext4'));
    await file(join(vmDir, 'snapshots', '3', 'memory'), 128 * 1024);
    await file(join(dataDir, 'vms', 'mvm-acme-web-ghost', 'drives', 'data.ext4'));
    // Pool bases (docs/clones.md): web's serves the instance here; gone's pool has none here.
    const bases = new BaseStore(join(dataDir, 'bases'), silentLogger);
    const baseOf = async (poolId: string) => {
      const inputs = baseInputs({ scope: { tenantId: 'acme', poolId } });
      await bases.create(baseKey(inputs), inputs, 'donor', fillBase);
      return baseKey(inputs);
    };
    const webBase = await baseOf('web');
    const goneBase = await baseOf('gone');

    const gc = async (...flags: string[]): Promise<NodeGcReport> => {
      const run = await runIn(['node', 'gc', ...flags, '--json'], {
        env: { MVM_DATA_DIR: dataDir },
        readText: readTextFile,
        defaultConfigFile: join(root, 'no-config.json'),
      });
      expect(run.stderr).toBe('');
      return JSON.parse(run.stdout) as NodeGcReport;
    };
    const listed = await gc('--dry-run');
    const found = listed.items.map((i) => `${i.kind} ${i.name}`).sort();
    expect(found).toEqual(
      [
        `artifact image ${OLD}`,
        'artifact kernel 6.1.0-1-test',
        'artifact other images/.tmp-abc-123',
        'artifact other images/by-input/k-old',
        `base ${goneBase}`,
        'instance-dir mvm-acme-web-ghost',
        `snapshot ${record.key}/3`,
      ].sort(),
    );
    expect(listed.dryRun).toBe(true);
    expect(listed.bytes).toBeGreaterThanOrEqual(128 * 1024 + 64 * 1024);
    expect(listed.notes.join('\n')).toContain('tenant networking is off');
    // Nothing moved on a dry run.
    expect(existsSync(join(vmDir, 'snapshots', '3'))).toBe(true);
    expect(existsSync(oldDir)).toBe(true);

    const human = await runIn(['node', 'gc', '--dry-run'], {
      env: { MVM_DATA_DIR: dataDir },
      readText: readTextFile,
      defaultConfigFile: join(root, 'no-config.json'),
    });
    expect(human.stdout).toMatch(/^KIND\s+NAME\s+SIZE\s+WHY$/m);
    expect(human.stdout).toContain('would remove 7 item(s)');

    const removed = await gc();
    expect(removed.items.map((i) => `${i.kind} ${i.name}`).sort()).toEqual(found);
    expect(removed.failed).toEqual([]);
    for (const gone of [
      join(vmDir, 'snapshots', '3'),
      oldDir,
      staging,
      join(dataDir, 'vms', 'mvm-acme-web-ghost'),
      join(dataDir, 'bases', goneBase),
    ]) {
      expect(existsSync(gone), gone).toBe(false);
    }
    for (const kept of [
      currentDir,
      fresh,
      join(vmDir, 'drives', 'data.ext4'),
      join(cacheDir, 'kernels', '6.1.0-2-test'),
      join(cacheDir, 'kernels', 'newest.json'),
      join(cacheDir, 'images', 'by-input', 'k-current'),
      join(dataDir, 'bases', webBase, 'base.json'),
    ]) {
      expect(existsSync(kept), kept).toBe(true);
    }
    expect(await agent.runtime.list()).toHaveLength(1);
    expect((await gc('--dry-run')).items).toEqual([]);
  });
});
