import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostError, ValidationError } from '../../../src/core/errors.ts';
import { Ext4Drives } from '../../../src/drivers/drives/ext4-drives.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import {
  catFile,
  e2fsTool,
  fileMode,
  fsckClean,
  labelOf,
  listNames,
  missingE2fsTools,
  writeFileInto,
} from './e2fs-tools.ts';

const missing = missingE2fsTools();
if (missing) console.warn(`[skip] Ext4Drives with real mkfs.ext4: ${missing}`);

const runner = new NodeProcessRunner();
const drives = new Ext4Drives({ runner, mkfsPath: e2fsTool('mkfs.ext4') ?? 'mkfs.ext4' });

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;
const sha256 = async (path: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
const contentNames = async (image: string): Promise<string[]> =>
  (await listNames(runner, image)).filter((name) => name !== 'lost+found').sort();

describe.skipIf(missing !== undefined)('Ext4Drives with real mkfs.ext4', () => {
  let instanceDir = '';
  beforeEach(async () => {
    instanceDir = await mkdtemp(join(tmpdir(), 'mvm-drives-'));
  });
  afterEach(async () => {
    await rm(instanceDir, { recursive: true, force: true });
  });

  describe('data', () => {
    it('creates a sparse, labelled, private image of the requested size', async () => {
      const path = await drives.ensureData(instanceDir, 64);
      expect(path).toBe(join(instanceDir, 'drives', 'data.ext4'));
      const info = await stat(path);
      expect(info.size).toBe(64 * 1024 * 1024);
      expect(info.blocks * 512).toBeLessThan(info.size / 2);
      expect(await modeOf(path)).toBe(0o600);
      expect(await labelOf(runner, path)).toBe('data');
      expect(await fsckClean(runner, path)).toBe(true);
    });

    it('keeps an existing image byte for byte, with what the guest wrote', async () => {
      const path = await drives.ensureData(instanceDir, 16);
      const note = join(instanceDir, 'note.txt');
      await writeFile(note, 'written by the guest\n');
      await writeFileInto(runner, path, note, 'note.txt');
      const before = await sha256(path);

      expect(await drives.ensureData(instanceDir, 32)).toBe(path);
      expect(await sha256(path)).toBe(before);
      expect((await stat(path)).size).toBe(16 * 1024 * 1024);
      expect(await catFile(runner, path, 'note.txt')).toBe('written by the guest\n');
    });

    it('builds exactly one image when called concurrently', async () => {
      const paths = await Promise.all([1, 2, 3].map(() => drives.ensureData(instanceDir, 8)));
      expect(new Set(paths).size).toBe(1);
      expect(await readdir(join(instanceDir, 'drives'))).toEqual(['data.ext4']);
    });

    it('rejects a size that is not a positive whole number of MiB', async () => {
      await expect(drives.ensureData(instanceDir, 0)).rejects.toBeInstanceOf(ValidationError);
      await expect(drives.ensureData(instanceDir, 1.5)).rejects.toBeInstanceOf(ValidationError);
      expect(await readdir(instanceDir)).toEqual([]);
    });
  });

  describe('secrets', () => {
    it('writes each secret as a 0400 file in a 0600 image labelled secrets', async () => {
      const { path } = await drives.buildSecrets(instanceDir, {
        'db.password': 'hunter2',
        API_TOKEN: 'tok-123',
      });
      expect(path).toBe(join(instanceDir, 'drives', 'secrets.ext4'));
      expect(await modeOf(path)).toBe(0o600);
      expect(await labelOf(runner, path)).toBe('secrets');
      expect(await catFile(runner, path, 'db.password')).toBe('hunter2');
      expect(await catFile(runner, path, 'API_TOKEN')).toBe('tok-123');
      expect(await fileMode(runner, path, 'db.password')).toBe('0400');
      expect(await fsckClean(runner, path)).toBe(true);
      // Neither the staging directory nor a temp image is left behind.
      expect(await readdir(join(instanceDir, 'drives'))).toEqual(['secrets.ext4']);
    });

    it('names equal secrets by an equal digest and lays them out alike; other secrets differ', async () => {
      const first = await drives.buildSecrets(instanceDir, { a: '1', b: '2' });
      const firstBlocks = await blockMap(runner, first.path);
      expect(firstBlocks.map((line) => line.split(' ')[0])).toEqual(['a', 'b', 'lost+found']);
      const again = await drives.buildSecrets(instanceDir, { b: '2', a: '1' });
      // Same inodes, same blocks: a guest that cached the old image reads the new one right.
      expect(await blockMap(runner, again.path)).toEqual(firstBlocks);
      expect(again.digest).toBe(first.digest);
      expect(again.digest).toMatch(/^[0-9a-f]{64}$/);
      const changed = await drives.buildSecrets(instanceDir, { a: '1', b: '3' });
      expect(changed.digest).not.toBe(first.digest);
    });

    it('replaces the previous image: new values in, old secrets gone', async () => {
      const path = (
        await drives.buildSecrets(instanceDir, { old: 'old-secret-value-1', kept: 'a' })
      ).path;
      await drives.buildSecrets(instanceDir, { kept: 'b', added: 'v2' });
      expect(await contentNames(path)).toEqual(['added', 'kept']);
      expect(await catFile(runner, path, 'kept')).toBe('b');
      expect(await catFile(runner, path, 'old')).toBeUndefined();
      expect((await readFile(path)).includes('old-secret-value-1')).toBe(false);
      expect(await modeOf(path)).toBe(0o600);
    });

    it('rejects bad names with every problem listed, writing nothing', async () => {
      const bad = { '../escape': 's3cr3t-value', 'a/b': 'x', '..': 'y', ok: 'z', 'sp ace': 'w' };
      const error = await drives.buildSecrets(instanceDir, bad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      const problems = (error as ValidationError).problems;
      expect(problems).toHaveLength(4);
      expect((error as Error).message).not.toContain('s3cr3t-value');
      expect(await readdir(instanceDir)).toEqual([]);
    });

    it('keeps values out of the error when mkfs fails, and cleans up', async () => {
      const broken = new Ext4Drives({ runner, mkfsPath: join(instanceDir, 'no-mkfs') });
      const error = await broken
        .buildSecrets(instanceDir, { token: 'v4lue-never-shown' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostError);
      expect(
        JSON.stringify({ m: (error as HostError).message, d: (error as HostError).details }),
      ).not.toContain('v4lue-never-shown');
      expect(await readdir(join(instanceDir, 'drives'))).toEqual([]);
    });

    it('sizes the image for its content', async () => {
      const many = Object.fromEntries(
        Array.from({ length: 300 }, (_, i) => [`key-${i}`, `value-${i}`]),
      );
      const big = 'x'.repeat(3 * 1024 * 1024);
      const path = (await drives.buildSecrets(instanceDir, { ...many, big })).path;
      expect(await catFile(runner, path, 'key-299')).toBe('value-299');
      expect((await catFile(runner, path, 'big'))?.length).toBe(big.length);
      const small = (await drives.buildSecrets(instanceDir, { one: '1' })).path;
      expect((await stat(small)).size).toBeLessThanOrEqual(4 * 1024 * 1024);
    });
  });

  describe('config', () => {
    it('keeps versions side by side, labelled config and read-only on the host', async () => {
      const v1 = (await drives.buildConfig(instanceDir, 'v1', { 'app.json': '{"a":1}' })).path;
      const v2 = (await drives.buildConfig(instanceDir, 'v2', { 'app.json': '{"a":2}' })).path;
      expect(v1).toBe(join(instanceDir, 'drives', 'config-v1.ext4'));
      expect(await catFile(runner, v1, 'app.json')).toBe('{"a":1}');
      expect(await catFile(runner, v2, 'app.json')).toBe('{"a":2}');
      expect(await labelOf(runner, v2)).toBe('config');
      expect(await modeOf(v1)).toBe(0o400);
      expect(await fileMode(runner, v1, 'app.json')).toBe('0644');
    });

    it('replaces a rebuilt version atomically', async () => {
      const first = await drives.buildConfig(instanceDir, '7', { a: 'old' });
      const again = await drives.buildConfig(instanceDir, '7', { b: 'new' });
      expect(again.path).toBe(first.path);
      expect(again.digest).not.toBe(first.digest);
      expect(await contentNames(again.path)).toEqual(['b']);
    });

    it('rejects versions and file names that are not id-like', async () => {
      for (const version of ['../x', 'V1', '', '-a', 'a/b']) {
        await expect(drives.buildConfig(instanceDir, version, {})).rejects.toBeInstanceOf(
          ValidationError,
        );
      }
      await expect(drives.buildConfig(instanceDir, 'v1', { '.': 'x' })).rejects.toBeInstanceOf(
        ValidationError,
      );
      expect(await readdir(instanceDir)).toEqual([]);
    });
  });

  it('removeAll deletes every drive and is idempotent', async () => {
    await drives.ensureData(instanceDir, 8);
    await drives.buildSecrets(instanceDir, { a: 'b' });
    await drives.buildConfig(instanceDir, 'v1', {});
    await drives.removeAll(instanceDir);
    expect(await readdir(instanceDir)).toEqual([]);
    await drives.removeAll(instanceDir);
    await drives.removeAll(join(instanceDir, 'never-existed'));
  });
});

/** Inode number and data blocks of every file in the image root (debugfs, no mount). */
async function blockMap(runner: NodeProcessRunner, image: string): Promise<string[]> {
  const listing = await runner.run('debugfs', ['-R', 'ls -l /', image]);
  const names = listing.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length > 8)
    .map((cols) => cols[cols.length - 1] ?? '')
    .filter((name) => name !== '.' && name !== '..' && name !== '');
  const maps: string[] = [];
  for (const name of names.sort()) {
    const blocks = await runner.run('debugfs', ['-R', `blocks /${name}`, image]);
    const inode = await runner.run('debugfs', ['-R', `ls -i /${name}`, image]);
    maps.push(`${name} ${inode.stdout.trim()} ${blocks.stdout.trim()}`);
  }
  return maps;
}
