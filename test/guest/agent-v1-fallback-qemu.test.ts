/**
 * The host against an older guest: ONE real guest (QEMU, TCG here) booted with `mvm.agent=v1`
 * runs the busybox agent of older images. The v2 client's hello learns so, keeps status,
 * wake, drives and the drain working, and refuses exec, pty and files with a clear error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/core/errors.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import type { VmHandle } from '../../src/ports/vmm.ts';
import { devImage, guestSpec, shortWorkDir, testRunner } from '../support/qemu-guest.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('guest agent v1 fallback');

describe.runIf(gate.run)('a version-1 guest agent', () => {
  const vmm = new QemuVmm({ runner: testRunner, accel: 'tcg' });
  let vm: VmHandle;
  let client: GuestAgentClient;

  beforeAll(async () => {
    const image = await devImage();
    const spec = guestSpec(image, await shortWorkDir('v1q'), { key: 'mvm-test-agent-v1' });
    vm = await vmm.start({ ...spec, cmdline: `${spec.cmdline} mvm.agent=v1` });
    client = new GuestAgentClient(unixSocketTransport(vm.guestSocket), {
      requestTimeoutMs: 20_000,
    });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    if (vm) await vmm.stop(vm);
  });

  it('is recognised by its answer to hello and keeps the lifecycle ops', async () => {
    const info = await client.waitReady(120_000);
    expect(info).toMatchObject({ proto: 1, caps: ['status', 'wake', 'drives', 'drain'] });
    expect(await client.status()).toMatchObject({ hostname: 'guest-1', ip: '10.240.99.3' });
    expect(await client.sleepPrep(1_000)).toMatchObject({ drained: true });
    await client.wake(Math.floor(Date.now() / 1000));
  }, 150_000);

  it('refuses exec, pty and files, naming what to do', async () => {
    const exec = client.exec({ argv: ['true'] });
    await expect(exec).rejects.toBeInstanceOf(ConflictError);
    await expect(exec).rejects.toThrow(/cannot do 'exec'; rebuild the instance's image/);
    await expect(client.openPty({ argv: ['sh'], cols: 80, rows: 24 })).rejects.toThrow(/'pty'/);
    await expect(client.getFile('/etc/passwd')).rejects.toThrow(/'files'/);
  });
});
