import { createHash } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import { ValidationError } from '../../../src/core/errors.ts';
import { MAX_MODULE_BYTES } from '../../../src/core/jobs/module-check.ts';
import { storeJobModule } from '../../../src/coordinator/jobs/module-intake.ts';
import { T0, T1, tenant } from '../../db/fixtures.ts';
import { describeEachDatabase } from '../../support/store-harness.ts';
import { wat } from '../../support/wat.ts';

const limits = { maxMemoryMib: 4, maxModuleBytes: MAX_MODULE_BYTES };
const good = wat(`(module
  (import "mvm" "call" (func (param i32 i32 i32 i32 i32) (result i32)))
  (import "mvm" "memory" (memory 1 64))
  (func (export "run") (result i32) (i32.const 0)))`);
const tooHungry = wat(`(module
  (import "mvm" "memory" (memory 1 65))
  (func (export "run") (result i32) (i32.const 0)))`);
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

await describeEachDatabase('job module intake', ({ store }) => {
  beforeEach(async () => {
    await store().tenants.insert(tenant('acme', 1));
  });

  it('stores a good module under its sha256, once', async () => {
    const first = await storeJobModule(store(), 'acme', good, limits, T0);
    expect(first).toEqual({
      sha256: sha(good),
      created: true,
      memory: { initial: 1, maximum: 64 },
      uses: ['call'],
    });
    expect((await storeJobModule(store(), 'acme', good, limits, T1)).created).toBe(false);
    const stored = await store().jobModules.get('acme', sha(good));
    expect(stored?.createdAt).toBe(T0);
    expect(Buffer.from(stored?.bytes ?? []).equals(Buffer.from(good))).toBe(true);
  });

  it('stores nothing when the module is refused, inside a transaction too', async () => {
    await expect(storeJobModule(store(), 'acme', tooHungry, limits, T0)).rejects.toThrow(
      "its memory maximum of 65 pages is over the tenant's 4 MiB (64 pages)",
    );
    await expect(
      store().transaction((repos) => storeJobModule(repos, 'acme', tooHungry, limits, T0)),
    ).rejects.toThrow(ValidationError);
    expect(await store().jobModules.get('acme', sha(tooHungry))).toBeUndefined();
  });
});
