import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectAccel, quickVerdict } from '../../../src/drivers/qemu/detect-accel.ts';
import type { HostFacts } from '../../../src/drivers/qemu/detect-accel.ts';

const kvmHost: HostFacts = { hasDevKvm: true, isPvm: false, hasHardwareVirt: true };

describe('detectAccel', () => {
  let cacheDir: string;
  beforeEach(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'mvm-accel-'));
  });
  afterEach(() => rm(cacheDir, { recursive: true, force: true }));

  it('honours MVM_QEMU_ACCEL and rejects nonsense', async () => {
    const env = { MVM_QEMU_ACCEL: 'kvm' };
    expect((await detectAccel({ cacheDir, env })).accel).toBe('kvm');
    await expect(detectAccel({ cacheDir, env: { MVM_QEMU_ACCEL: 'hvf' } })).rejects.toThrow(
      /invalid/,
    );
  });

  it('says tcg without probing on PVM, without /dev/kvm, or without vmx/svm', () => {
    expect(quickVerdict({ ...kvmHost, isPvm: true })?.reason).toMatch(/PVM/);
    expect(quickVerdict({ ...kvmHost, hasDevKvm: false })?.accel).toBe('tcg');
    expect(quickVerdict({ ...kvmHost, hasHardwareVirt: false })?.accel).toBe('tcg');
    expect(quickVerdict(kvmHost)).toBeUndefined();
  });

  it('trusts KVM only after a probe boot, and caches the verdict', async () => {
    let probes = 0;
    const probe = (): Promise<boolean> => Promise.resolve(++probes > 0);
    expect(await detectAccel({ cacheDir, env: {}, facts: kvmHost, probe })).toMatchObject({
      accel: 'kvm',
    });
    const again = await detectAccel({ cacheDir, env: {}, facts: kvmHost, probe });
    expect(again.accel).toBe('kvm');
    expect(again.reason).toMatch(/cached/);
    expect(probes).toBe(1);
  });

  it('falls back to tcg when the probe fails', async () => {
    const probe = (): Promise<boolean> => Promise.reject(new Error('emulation failure'));
    expect((await detectAccel({ cacheDir, env: {}, facts: kvmHost, probe })).accel).toBe('tcg');
  });

  it('answers tcg quickly on this kind of host', async () => {
    const started = Date.now();
    const verdict = await detectAccel({ cacheDir, env: {} });
    expect(['kvm', 'tcg']).toContain(verdict.accel);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
