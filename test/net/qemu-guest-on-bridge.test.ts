/**
 * A real QEMU guest (TCG) on a persistent tap the driver created on tenant 5's bridge, inside
 * a node namespace: the guest's own kernel answers its gateway (the node) and a same-tenant
 * neighbour, verify is clean with the live VMM attached, and another tenant cannot reach it.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { macFor } from '../../src/core/addresses.ts';
import { tapName } from '../../src/core/naming.ts';
import { verifyNetwork } from '../../src/core/net-invariants.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import type { HostNetworkState, InstanceNetSpec } from '../../src/ports/network.ts';
import type { VmHandle } from '../../src/ports/vmm.ts';
import { devImage, guestSpec, shortWorkDir } from '../support/qemu-guest.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { NetnsRunner } from './support/netns-runner.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('QEMU guest on a tenant bridge', [
  await netGate('QEMU guest on a tenant bridge'),
]);

const inst = (netId: number, octet: number): InstanceNetSpec => ({
  tenantNetId: netId,
  tap: tapName(netId, octet),
  ip: `10.240.${netId}.${octet}`,
  mac: macFor(netId, octet),
});
const vmNic = inst(5, 3);
const neighbour = inst(5, 4);
const stranger = inst(6, 3);
const state: HostNetworkState = {
  tenants: [5, 6].map((netId) => ({
    netId,
    subnet: `10.240.${netId}.0/24`,
    gateway: `10.240.${netId}.1`,
    egress: false,
    vxlanPeers: [],
  })),
  instances: [vmNic, neighbour, stranger],
};

describe.runIf(gate.run)('a real QEMU guest on a tenant bridge', () => {
  let lab: NetLab;
  let workDir: string;
  let node: string;
  let driver: LinuxNetworkDriver;
  let vmm: QemuVmm;
  let vm: VmHandle | undefined;
  const g = { neighbour: '', stranger: '' };

  beforeAll(async () => {
    workDir = await shortWorkDir('netq');
    lab = new NetLab(workDir);
    node = await lab.namespace('qnode');
    g.neighbour = await lab.guest(node, 'qn', { ...neighbour, gateway: '10.240.5.1' });
    g.stranger = await lab.guest(node, 'qs', { ...stranger, gateway: '10.240.6.1' });
    driver = new LinuxNetworkDriver({ runner, netns: node });
    await driver.apply(state); // creates the persistent tap mvt5-3 for the VMM
    const image = await devImage();
    const cmdline = `${image.cmdlineBase} mvm.hostname=guest-net mvm.ip=${vmNic.ip}/24 mvm.gw=10.240.5.1`;
    const spec = guestSpec(image, workDir, {
      cmdline,
      nets: [{ id: 'n0', tap: vmNic.tap, mac: vmNic.mac }],
    });
    vmm = new QemuVmm({ runner: new NetnsRunner(runner, node), accel: 'tcg' });
    vm = await vmm.start(spec);
  });

  afterAll(async () => {
    if (vm) await vmm.stop(vm);
    await lab?.cleanup();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("answers its gateway's ping once booted (the guest kernel on the real tap)", async () => {
    await waitUntil(async () => ((await lab.ping(node, vmNic.ip)) ? true : undefined), {
      clock: systemClock,
      timeoutMs: 120_000,
      intervalMs: 500,
      what: `guest ${vmNic.ip} answering ping on br-tenant-5`,
    });
  });

  it('is reachable from its tenant and verify is clean with the VMM attached', async () => {
    expect(await lab.ping(g.neighbour, vmNic.ip)).toBe(true);
    expect(verifyNetwork(state, await driver.observe())).toEqual([]);
  });

  it('is unreachable from another tenant', async () => {
    expect(await lab.ping(g.stranger, vmNic.ip)).toBe(false);
  });
});
