/**
 * Boots ONE real guest (TCG here) from the dev image and walks it through the lifecycle the
 * fleet relies on: cold boot -> agent answers; warm (pause) -> resume keeps RAM; sleep
 * (snapshot + stop) -> wake (restore + resume) keeps RAM and does not reboot; stop; adopt.
 * The guest's RAM-only counter and boot_id are the witnesses. No mocks.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuestStatus } from '../../../src/contract/guest-protocol.ts';
import { GuestClient } from '../../../src/drivers/guest-channel/guest-client.ts';
import { unixSocketTransport } from '../../../src/drivers/guest-channel/guest-transport.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../../src/drivers/process/wait-until.ts';
import { QemuVmm } from '../../../src/drivers/qemu/qemu-vmm.ts';
import type { VmHandle, VmSpec } from '../../../src/ports/vmm.ts';
import { devImage, guestSpec, shortWorkDir, testRunner } from '../../support/qemu-guest.ts';
import { qemuSuiteGate } from '../../support/qemu-gate.ts';

const gate = await qemuSuiteGate('qemu-vmm real guest');

describe.runIf(gate.run)('QemuVmm with a real guest', () => {
  const vmm = new QemuVmm({ runner: testRunner, accel: 'tcg' });
  let workDir: string;
  let spec: VmSpec;
  let vm: VmHandle;
  let client: GuestClient;

  const freshClient = (): GuestClient => {
    client?.close();
    client = new GuestClient(unixSocketTransport(vm.guestSocket), { requestTimeoutMs: 5_000 });
    return client;
  };
  const counterAbove = (value: number): Promise<GuestStatus> =>
    waitUntil(
      async () => {
        const status = await client.status();
        return status.counter > value ? status : undefined;
      },
      {
        clock: systemClock,
        timeoutMs: 10_000,
        intervalMs: 200,
        what: `guest counter above ${value}`,
      },
    );

  /** What the guest last wrote to its data drive, read from the image with no mount. */
  const lastSleepOnDisk = async (): Promise<number> => {
    const args = ['-R', 'cat /.mvm-last-sleep', join(workDir, 'data.ext4')];
    const out = await testRunner.run('debugfs', args);
    return Number(out.stdout.trim());
  };

  let rootfs: string;
  let rootfsDigest: string;
  const sha256 = async (path: string): Promise<string> =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');

  beforeAll(async () => {
    const image = await devImage();
    rootfs = image.rootfs;
    rootfsDigest = await sha256(rootfs);
    workDir = await shortWorkDir('qemu');
    const data = join(workDir, 'data.ext4');
    await testRunner.run('mkfs.ext4', ['-q', '-F', '-L', 'data', data, '16M']);
    spec = guestSpec(image, workDir, { drives: [{ id: 'data', path: data, readOnly: false }] });
  });

  afterAll(async () => {
    client?.close();
    if (vm) await vmm.stop(vm);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('cold boot: the guest agent answers ping and status', async () => {
    vm = await vmm.start(spec);
    expect(await vmm.state(vm)).toBe('running');
    await freshClient().waitReady(60_000);
    expect(await client.ping()).toMatchObject({ ok: true, ready: true });
    const status = await client.status();
    expect(status).toMatchObject({ ok: true, hostname: 'guest-1', ip: '10.240.99.3' });
    expect(status.boot_id).toMatch(/^[0-9a-f-]{36}$/);
    await counterAbove(status.counter);
  });

  it('warm: pause stops the guest, resume continues it without a reboot', async () => {
    const before = await client.status();
    await vmm.pause(vm);
    expect(await vmm.state(vm)).toBe('paused');
    const pausedAt = Date.now();
    await sleep(2_500); // an observation window: the counter must not tick in it
    await vmm.resume(vm);
    const after = await client.status();
    expect(after.boot_id).toBe(before.boot_id);
    expect(after.counter - before.counter).toBeLessThanOrEqual(1);
    // The guest clock stood still while paused: less guest time passed than wall time.
    expect(after.uptime_s - before.uptime_s).toBeLessThan((Date.now() - pausedAt) / 1000 - 1);
    await counterAbove(after.counter);
  });

  it('an abandoned sleep: after a snapshot the VM resumes and keeps running', async () => {
    const before = await client.status();
    await vmm.pause(vm);
    await vmm.snapshot(vm, join(workDir, 'snap'), 'full');
    await vmm.resume(vm);
    expect(await vmm.state(vm)).toBe('running');
    const after = await counterAbove(before.counter);
    expect(after.boot_id).toBe(before.boot_id);
  });

  it('sleep -> wake: a restored guest keeps its memory and does not reboot', async () => {
    expect(await client.sleepPrep()).toMatchObject({ drained: true });
    const before = await client.status();
    await vmm.pause(vm);
    const snap = await vmm.snapshot(vm, join(workDir, 'snap'), 'full');
    expect(snap.kind).toBe('full');
    expect(snap.sizeBytes).toBeGreaterThan(1024 * 1024);
    expect((await stat(join(snap.dir, 'vm.state'))).size).toBe(snap.sizeBytes);
    await vmm.stop(vm);
    expect(await vmm.state(vm)).toBe('exited');

    vm = await vmm.restore(spec, snap);
    expect(await vmm.state(vm)).toBe('paused');
    await vmm.resume(vm);
    freshClient();
    await client.waitReady(20_000);
    expect(await client.wake()).toMatchObject({ ok: true });
    const after = await client.status();
    expect(after.boot_id).toBe(before.boot_id);
    expect(after.counter).toBeGreaterThanOrEqual(before.counter);
    expect(after.counter - before.counter).toBeLessThanOrEqual(3);
    expect(after.uptime_s).toBeGreaterThanOrEqual(before.uptime_s);
    expect(after.uptime_s - before.uptime_s).toBeLessThan(5);
    await counterAbove(after.counter);
  });

  it('the data drive written before sleep is there after wake, and still writable', async () => {
    const written = await lastSleepOnDisk();
    expect(written).toBeGreaterThan(0);
    await client.sleepPrep();
    const again = await lastSleepOnDisk();
    expect(again).toBeGreaterThan(written);
  });

  it('booted from the shared rootfs drive without changing a byte of it', async () => {
    expect(spec.drives[0]).toEqual({ id: 'rootfs', path: rootfs, readOnly: true });
    expect(await sha256(rootfs)).toBe(rootfsDigest);
  });

  it('rejects diff snapshots and snapshots of a running VM with clear errors', async () => {
    await expect(vmm.snapshot(vm, join(workDir, 'diff'), 'diff')).rejects.toThrow(/diff snapshots/);
    await expect(vmm.snapshot(vm, join(workDir, 'x'), 'full')).rejects.toThrow(/must be paused/);
  });

  it('adopt finds the live VMM; stop is idempotent; adopt returns null afterwards', async () => {
    const other = new QemuVmm({ runner: testRunner, accel: 'tcg' });
    expect(await other.adopt(vm)).toEqual(vm);
    expect(await other.state(vm)).toBe('running');
    client.close();
    await vmm.stop(vm);
    await vmm.stop(vm);
    expect(await vmm.state(vm)).toBe('exited');
    expect(await other.adopt(vm)).toBeNull();
  });

  it('start fails fast with the qemu error when the kernel is missing', async () => {
    const bad = {
      ...spec,
      key: 'mvm-test-bad',
      workDir: join(workDir, 'bad'),
      kernelPath: join(workDir, 'no-such-vmlinux'),
    };
    await expect(vmm.start(bad)).rejects.toThrow(/exited/);
  });

  // The driver waits up to 120 s for a migration; a QEMU that cannot load its state exits, and
  // the wake fails on that, long before the bound (this test's own timeout is half of it).
  it('a wake from a truncated snapshot fails when QEMU exits, not at the migration bound', async () => {
    vm = await vmm.start(spec);
    await freshClient().waitReady(60_000);
    await vmm.pause(vm);
    const snap = await vmm.snapshot(vm, join(workDir, 'broken'), 'full');
    await vmm.stop(vm);
    await truncate(join(snap.dir, 'vm.state'), Math.floor(snap.sizeBytes / 2));
    await expect(vmm.restore(spec, snap)).rejects.toThrow(/failed: QEMU exited/);
    expect(await vmm.adopt(vm)).toBeNull();
  }, 60_000);
});
