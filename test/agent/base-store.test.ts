import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BaseStore } from '../../src/agent/clones/base-store.ts';
import { baseKey } from '../../src/core/base-key.ts';
import { baseInputs, fillBase } from './base-fixture.ts';
import { silentLogger } from '../../src/ports/logger.ts';

const inputs = baseInputs;
const fill = fillBase;

describe('BaseStore', () => {
  let root = '';
  let store: BaseStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-clones-bases-'));
    store = new BaseStore(join(root, 'bases'), silentLogger);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('finds a base it made, whole, under its key', async () => {
    const key = baseKey(inputs());
    expect(await store.find(key)).toBeUndefined();
    expect(await store.create(key, inputs(), 'mvm-acme-web-c0', fill)).toBe(true);
    const base = await store.find(key);
    expect(base).toMatchObject({
      key,
      inputs: inputs(),
      donor: 'mvm-acme-web-c0',
      dataPath: join(root, 'bases', key, 'data.ext4'),
      snapshot: { dir: join(root, 'bases', key, 'snapshot'), kind: 'full', sizeBytes: 5 },
    });
    // No staging directory is left behind.
    expect(await readdir(join(root, 'bases'))).toEqual([key]);
  });

  it('leaves nothing when the build fails', async () => {
    const key = baseKey(inputs());
    const failing = () => Promise.reject(new Error('disk full'));
    await expect(store.create(key, inputs(), 'd', failing)).rejects.toThrow('disk full');
    expect(await readdir(join(root, 'bases'))).toEqual([]);
  });

  it('removes a base it cannot read whole', async () => {
    const key = baseKey(inputs());
    await store.create(key, inputs(), 'd', fill);
    await writeFile(join(root, 'bases', key, 'base.json'), '{"key":');
    expect(await store.find(key)).toBeUndefined();
    expect(await readdir(join(root, 'bases'))).toEqual([]);
    await store.create(key, inputs(), 'd', fill);
    await rm(join(root, 'bases', key, 'data.ext4'));
    expect(await store.find(key)).toBeUndefined();
  });

  it("supersedes the pool's base made from other inputs, and keeps other pools'", async () => {
    const old = baseKey(inputs());
    const other = baseKey(inputs({ scope: { tenantId: 'zeta', poolId: 'web' } }));
    const next = baseKey(inputs({ guestAgentVersion: 'init-2' }));
    await store.create(old, inputs(), 'd', fill);
    await store.create(other, inputs({ scope: { tenantId: 'zeta', poolId: 'web' } }), 'd', fill);
    await store.create(next, inputs({ guestAgentVersion: 'init-2' }), 'd', fill);
    expect((await readdir(join(root, 'bases'))).sort()).toEqual([next, other].sort());
  });
});
