/**
 * `layoutSecrets`: the secrets image a wake hands to its restoring VMM before the image is
 * written. The file must be there at its final size when the call returns, and what a
 * descriptor opened then reads once `written` settles must be the very image `buildSecrets`
 * makes (same bytes, same digest).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostError, ValidationError } from '../../../src/core/errors.ts';
import { Ext4Drives } from '../../../src/drivers/drives/ext4-drives.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import { catFile, e2fsTool, fileMode, fsckClean, missingE2fsTools } from './e2fs-tools.ts';

const missing = missingE2fsTools();
if (missing) console.warn(`[skip] Ext4Drives.layoutSecrets with real mkfs.ext4: ${missing}`);

const runner = new NodeProcessRunner();
const drives = new Ext4Drives({ runner, mkfsPath: e2fsTool('mkfs.ext4') ?? 'mkfs.ext4' });
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(missing !== undefined)('Ext4Drives.layoutSecrets with real mkfs.ext4', () => {
  let root = '';
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-wake3-inplace-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('returns with the file at its final path and size; a descriptor opened then reads the built image', async () => {
    const secrets = { API_TOKEN: 'tok-123', 'db.password': 'hunter2' };
    const laid = await drives.layoutSecrets(join(root, 'a'), secrets);
    expect(laid.path).toBe(join(root, 'a', 'drives', 'secrets.ext4'));
    const early = await open(laid.path, 'r');
    try {
      const info = await early.stat();
      expect(info.mode & 0o777).toBe(0o600);
      await laid.written;
      const seen = await early.readFile();
      const built = await drives.buildSecrets(join(root, 'b'), secrets);
      // Byte for byte what the atomic build makes, through the descriptor opened before.
      expect(seen.length).toBe(info.size);
      expect(sha256(seen)).toBe(sha256(await readFile(built.path)));
      expect(laid.digest).toBe(built.digest);
    } finally {
      await early.close();
    }
    expect(await catFile(runner, laid.path, 'db.password')).toBe('hunter2');
    expect(await fileMode(runner, laid.path, 'API_TOKEN')).toBe('0400');
    expect(await fsckClean(runner, laid.path)).toBe(true);
    // No staging directory is left next to it.
    expect(await readdir(join(root, 'a', 'drives'))).toEqual(['secrets.ext4']);
  });

  it('replaces what was at the path: old values gone, the old file never written', async () => {
    const dir = join(root, 'a');
    const old = await drives.buildSecrets(dir, { old: 'old-secret-value-1', kept: 'a' });
    const oldBytes = await readFile(old.path);
    const holder = await open(old.path, 'r');
    try {
      const laid = await drives.layoutSecrets(dir, { kept: 'b' });
      await laid.written;
      expect(await catFile(runner, laid.path, 'kept')).toBe('b');
      expect((await readFile(laid.path)).includes('old-secret-value-1')).toBe(false);
      // Whoever still held the old image reads it unchanged: a new file, not the old inode.
      expect(sha256(await holder.readFile())).toBe(sha256(oldBytes));
    } finally {
      await holder.close();
    }
  });

  it('rejects bad names before creating anything', async () => {
    const error = await drives
      .layoutSecrets(root, { '../up': 'v4lue', ok: 'x' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(await readdir(root)).toEqual([]);
  });

  it('reports a failed mkfs through `written`, without the values, and leaves no staging', async () => {
    // Answers -V as mkfs.ext4 does (the digest names the version), fails every format.
    const failing = join(root, 'failing-mkfs');
    const real = e2fsTool('mkfs.ext4') ?? 'mkfs.ext4';
    await writeFile(failing, `#!/bin/sh\n[ "$1" = -V ] && exec ${real} -V\nexit 1\n`, {
      mode: 0o700,
    });
    const broken = new Ext4Drives({ runner, mkfsPath: failing });
    const laid = await broken.layoutSecrets(root, { token: 'v4lue-never-shown' });
    // Left unawaited for a while: a rejection meanwhile must not count as unhandled.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const error = await laid.written.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostError);
    const told = JSON.stringify({
      m: (error as HostError).message,
      d: (error as HostError).details,
    });
    expect(told).not.toContain('v4lue-never-shown');
    expect((await readdir(join(root, 'drives'))).filter((n) => n.startsWith('.stage'))).toEqual([]);
  });
});
