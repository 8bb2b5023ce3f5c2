import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ext4Drives } from '../../../src/drivers/drives/ext4-drives.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';

/** A clone's first data drive is a copy of its pool base's (docs/clones.md). */
describe('Ext4Drives.seedData', () => {
  let root = '';
  const drives = new Ext4Drives({ runner: new NodeProcessRunner() });
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-clones-seed-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('copies the template as the data image when there is none, owner-only', async () => {
    const template = join(root, 'base-data.ext4');
    await writeFile(template, 'base bytes');
    const dir = join(root, 'vm');
    expect(await drives.hasData(dir)).toBe(false);
    expect(await drives.seedData(dir, template)).toBe(true);
    expect(await drives.hasData(dir)).toBe(true);
    const path = join(dir, 'drives', 'data.ext4');
    expect(await readFile(path, 'utf8')).toBe('base bytes');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // The data drive the runtime then attaches is that copy, untouched.
    expect(await drives.ensureData(dir, 16)).toBe(path);
    expect(await readFile(path, 'utf8')).toBe('base bytes');
  });

  it('never touches an existing data image', async () => {
    const template = join(root, 'base-data.ext4');
    await writeFile(template, 'base bytes');
    const dir = join(root, 'vm');
    await drives.seedData(dir, template);
    await writeFile(join(dir, 'drives', 'data.ext4'), 'the instance own data');
    expect(await drives.seedData(dir, template)).toBe(false);
    expect(await readFile(join(dir, 'drives', 'data.ext4'), 'utf8')).toBe('the instance own data');
  });

  it('leaves no image when the template is missing', async () => {
    const dir = join(root, 'vm');
    await expect(drives.seedData(dir, join(root, 'absent'))).rejects.toThrow(/ENOENT/);
    expect(await drives.hasData(dir)).toBe(false);
  });
});
