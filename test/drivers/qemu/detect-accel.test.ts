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

  // Bad MVM_QEMU_ACCEL values are refused by the agent's config (test/agent/agent-config.test.ts).
  it('honours a configured accelerator without detecting, even on a host that lacks it', async () => {
    const noKvm: HostFacts = { ...kvmHost, hasDevKvm: false };
    expect(await detectAccel({ cacheDir, forced: 'kvm', facts: noKvm })).toEqual({
      accel: 'kvm',
      reason: 'forced by configuration (MVM_QEMU_ACCEL)',
    });
    expect((await detectAccel({ cacheDir, forced: 'tcg', facts: kvmHost })).accel).toBe('tcg');
    expect((await detectAccel({ cacheDir, forced: 'auto', facts: noKvm })).accel).toBe('tcg');
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
    expect(await detectAccel({ cacheDir, facts: kvmHost, probe })).toMatchObject({
      accel: 'kvm',
    });
    const again = await detectAccel({ cacheDir, facts: kvmHost, probe });
    expect(again.accel).toBe('kvm');
    expect(again.reason).toMatch(/cached/);
    expect(probes).toBe(1);
  });

  it('falls back to tcg when the probe fails', async () => {
    const probe = (): Promise<boolean> => Promise.reject(new Error('emulation failure'));
    expect((await detectAccel({ cacheDir, facts: kvmHost, probe })).accel).toBe('tcg');
  });

  it('answers tcg quickly on this kind of host', async () => {
    const started = Date.now();
    const verdict = await detectAccel({ cacheDir });
    expect(['kvm', 'tcg']).toContain(verdict.accel);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
