/**
 * Issue 15 (QEMU needs no capability for its network): a confined QEMU guest (TCG) on a
 * persistent tap the network driver created on a tenant bridge, inside a node namespace of
 * this test. mvm-tapfd attaches the tap and QEMU inherits it as a descriptor, so the VMM's
 * bounding set holds only what -chroot and -runas used (no CAP_NET_ADMIN, bit 12), and its
 * command line names no tap. The guest's network works through it both ways (ping from the
 * node, ping of its gateway from the guest, HTTP to a server in the guest) before a sleep and
 * after a wake from the snapshot, which passes the tap the same way.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestLinks } from '../../src/agent/runtime/guest-links.ts';
import { macFor } from '../../src/core/addresses.ts';
import { tapName } from '../../src/core/naming.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { probeConfinement } from '../../src/drivers/qemu/qemu-confine.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import type { HostNetworkState, InstanceNetSpec } from '../../src/ports/network.ts';
import type { VmHandle, VmSpec } from '../../src/ports/vmm.ts';
import { execText } from '../support/exec-output.ts';
import { QEMU_BINARY, devImage, guestSpec, shortWorkDir } from '../support/qemu-guest.ts';
import { expectConfined, expectTapsInherited, qemuPidsUnder } from '../support/vmm-confinement.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { NetnsRunner } from './support/netns-runner.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('confined QEMU guest on a tap passed as a descriptor', [
  await netGate('confined QEMU guest on a tap passed as a descriptor'),
]);

const RUN_AS = { uid: 2_000_000_915, gid: 2_000_000_915 };
const vmNic: InstanceNetSpec = {
  tenantNetId: 7,
  tap: tapName(7, 3),
  ip: '10.240.7.3',
  mac: macFor(7, 3),
};
const state: HostNetworkState = {
  tenants: [
    { netId: 7, subnet: '10.240.7.0/24', gateway: '10.240.7.1', egress: false, vxlanPeers: [] },
  ],
  instances: [vmNic],
};
const PAGE = 'http://10.240.7.3:8080/hello.txt';

describe.runIf(gate.run)('a confined QEMU guest on a tap it inherits', () => {
  let lab: NetLab;
  let workDir = '';
  let node = '';
  let vmm: QemuVmm;
  let spec: VmSpec;
  let vm: VmHandle | undefined;
  const links = new GuestLinks('virtio-serial', silentLogger);

  beforeAll(async () => {
    workDir = await shortWorkDir('tapfd');
    lab = new NetLab(workDir);
    node = await lab.namespace('tapfd');
    await new LinuxNetworkDriver({ runner, netns: node }).apply(state); // the persistent tap
    const nsRunner = new NetnsRunner(runner, node);
    const probe = await probeConfinement(nsRunner, QEMU_BINARY, true);
    expect(probe.missing).toEqual([]);
    expect(probe.confinement.tapfd).toMatch(/mvm-tapfd$/);
    vmm = new QemuVmm({ runner: nsRunner, accel: 'tcg', confinement: probe.confinement });
    const image = await devImage();
    spec = guestSpec(image, join(workDir, 'vm'), {
      key: 'mvm-tapfd-guest',
      cmdline: `${image.cmdlineBase} mvm.hostname=tapfd mvm.ip=${vmNic.ip}/24 mvm.gw=10.240.7.1`,
      nets: [{ id: 'n0', tap: vmNic.tap, mac: vmNic.mac }],
      runAs: RUN_AS,
    });
    vm = await vmm.start(spec);
  }, 180_000);

  afterAll(async () => {
    links.closeAll();
    if (vm) await vmm.stop(vm).catch(() => undefined);
    await lab?.cleanup();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  async function guest(script: string): Promise<string> {
    const client = links.for(vm as VmHandle);
    await client.waitReady(120_000);
    const { stdout, stderr, exit } = await execText(client, { argv: ['sh', '-c', script] });
    if (exit.code !== 0) throw new Error(`guest '${script}' exited ${exit.code}: ${stderr}`);
    return stdout;
  }

  async function pingable(): Promise<void> {
    await waitUntil(async () => ((await lab.ping(node, vmNic.ip)) ? true : undefined), {
      clock: systemClock,
      timeoutMs: 120_000,
      intervalMs: 500,
      what: `guest ${vmNic.ip} answering ping on br-tenant-7`,
    });
  }

  /** Confined as ever, no net_admin in any thread's bounding set, the tap on a descriptor. */
  async function expectTapInherited(pid: number): Promise<void> {
    await expectConfined(pid, RUN_AS, join(spec.workDir, 'jail'));
    expect(await expectTapsInherited(pid)).toEqual([vmNic.tap]);
  }

  it('runs with no CAP_NET_ADMIN in its bounding set, the tap on an inherited fd', async () => {
    await expectTapInherited((vm as VmHandle).pid);
  });

  it('reaches and is reached through the tap: ping both ways, HTTP into the guest', async () => {
    await pingable();
    expect(await guest('busybox ping -c 1 -W 5 10.240.7.1 >/dev/null && echo gateway-ok')).toBe(
      'gateway-ok\n',
    );
    await guest(
      'mkdir -p /run/www && echo tapfd-ok >/run/www/hello.txt && busybox httpd -p 8080 -h /run/www',
    );
    expect(await lab.httpGet(node, PAGE)).toBe('200 tapfd-ok');
  }, 180_000);

  it("fails a start on a missing tap with mvm-tapfd's own words, and leaves no VMM", async () => {
    const missing = { ...spec, key: 'mvm-tapfd-notap', workDir: join(workDir, 'notap') };
    missing.nets = [{ id: 'n0', tap: tapName(7, 9), mac: macFor(7, 9) }];
    await expect(vmm.start(missing)).rejects.toThrow(
      /qemu for 'mvm-tapfd-notap' exited \(1\): .*mvm-tapfd: no tap 'mvt7-9' in this network namespace \(No such device, errno 19\)/s,
    );
    expect(await qemuPidsUnder(missing.workDir)).toEqual([]);
    const link = await lab.exec(node, 'ip', ['link', 'show', tapName(7, 9)]);
    expect(link.exitCode).not.toBe(0);
  }, 60_000);

  it('sleeps and wakes with the tap passed the same way, its network and server intact', async () => {
    const running = vm as VmHandle;
    await vmm.pause(running);
    const snapshot = await vmm.snapshot(running, join(workDir, 'snap'), 'full');
    await vmm.stop(running);
    links.drop(running.key);
    vm = undefined;
    expect(await lab.ping(node, vmNic.ip)).toBe(false);

    vm = await vmm.restore(spec, snapshot);
    await vmm.resume(vm);
    await expectTapInherited(vm.pid);
    await pingable();
    // The woken guest is the same one: its HTTP server answers without being started again.
    expect(await lab.httpGet(node, PAGE)).toBe('200 tapfd-ok');
    expect(await guest('busybox ping -c 1 -W 5 10.240.7.1 >/dev/null && echo gateway-ok')).toBe(
      'gateway-ok\n',
    );
  }, 240_000);
});
