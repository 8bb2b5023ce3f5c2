import { describe, expect, it } from 'vitest';
import { baseChanges, baseKey, type BaseInputs } from '../../src/core/base-key.ts';

const inputs: BaseInputs = {
  scope: { tenantId: 'acme', poolId: 'web' },
  imageDigest: 'sha256:' + 'a'.repeat(64),
  kernel: 'vmlinuz-6.1.0-28-amd64',
  vmmVersion: 'qemu 8.2.2',
  vcpus: 1,
  memMib: 256,
  guestAgentVersion: '2.2.0',
  layout: 'rootfs,mvm-init,data:16,secrets;eth0',
};

describe('baseKey', () => {
  it('is a sha256 hex, the same for the same inputs', () => {
    const key = baseKey(inputs);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(baseKey({ ...inputs, scope: { ...inputs.scope } })).toBe(key);
  });

  it('changes with every input that shapes the snapshot', () => {
    const variants: BaseInputs[] = [
      { ...inputs, imageDigest: 'sha256:' + 'b'.repeat(64) },
      { ...inputs, kernel: 'vmlinuz-6.1.0-29-amd64' },
      { ...inputs, vmmVersion: 'qemu 9.0.0' },
      { ...inputs, vcpus: 2 },
      { ...inputs, memMib: 512 },
      { ...inputs, guestAgentVersion: '2.1.0' },
      { ...inputs, layout: 'rootfs,mvm-init,data:32,secrets;eth0' },
      { ...inputs, scope: { tenantId: 'other', poolId: 'web' } },
      { ...inputs, scope: { tenantId: 'acme', poolId: 'api' } },
      { ...inputs, warmUp: '["sh","-c","load"]' },
      { ...inputs, warmUp: '["sh","-c","load more"]' },
    ];
    const keys = new Set([baseKey(inputs), ...variants.map(baseKey)]);
    expect(keys.size).toBe(variants.length + 1);
  });

  it('keeps the key of a pool without a warm-up as it was before warm-ups existed', () => {
    expect(baseKey(inputs)).toBe(
      '2805ea047d1919e634c69e8ef941bd5c9405ca1920394cee78b77090e19317db',
    );
  });

  it('does not confuse fields whose texts concatenate alike', () => {
    const a = baseKey({ ...inputs, scope: { tenantId: 'ab', poolId: 'c' } });
    const b = baseKey({ ...inputs, scope: { tenantId: 'a', poolId: 'bc' } });
    expect(a).not.toBe(b);
  });

  it('names what changed', () => {
    expect(baseChanges(inputs, inputs)).toEqual([]);
    expect(baseChanges(inputs, { ...inputs, memMib: 512, vmmVersion: 'qemu 9' })).toEqual([
      'vmmVersion',
      'memMib',
    ]);
  });
});
