import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { GuestAgentClient } from '../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../src/drivers/guest-channel/guest-transport.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { QemuVmm } from '../src/drivers/qemu/qemu-vmm.ts';
import { guestSh, guestHogCommand, GUEST_FREE_COMMAND, vmmSplit, guestWorkingSetMib } from '../test/support/guest-memory.ts';
import { shortWorkDir } from '../test/support/qemu-guest.ts';
const runner = new NodeProcessRunner();
const image = await buildDevImage({ runner });
for (const tun of ['', 'glibc.malloc.arena_max=1', 'glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=65536:glibc.malloc.mmap_threshold=65536']) {
  if (tun) process.env.GLIBC_TUNABLES = tun; else delete process.env.GLIBC_TUNABLES;
  const vmm = new QemuVmm({ runner, accel: 'tcg', tcgTbSizeMib: Number(process.env.TB ?? 16) });
  const workDir = await shortWorkDir('dens2-y');
  const t0 = Date.now();
  const vm = await vmm.start({ key: 'mvm-density2-y', workDir, vcpus: 1, memMib: 256, kernelPath: image.vmlinux, initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=density mvm.ip=10.240.96.2/24`, drives: imageDrives(image), nets: [] });
  const g = new GuestAgentClient(unixSocketTransport(vm.guestSocket), { requestTimeoutMs: 60_000 });
  try {
    await g.waitReady(240_000);
    const ready = Date.now() - t0;
    await guestSh(g, guestHogCommand(100)); await guestSh(g, GUEST_FREE_COMMAND);
    await sleep(15000);
    const ws = await guestWorkingSetMib(g, 256);
    const s = await vmmSplit(vm.pid, 256);
    const roll = await readFile(`/proc/${vm.pid}/smaps_rollup`, 'utf8');
    const r = (k: string) => (Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(roll)?.[1]) / 1024).toFixed(1);
    console.log(`[${tun || 'default'}] ready ${ready} ms; RSS ${s.total.toFixed(1)} guestRam ${s.guestRam.toFixed(1)} ownAnon ${s.ownAnon.toFixed(1)} | Anonymous ${r('Anonymous')} Pss_File ${r('Pss_File')} | ws ${ws.used.toFixed(1)} reserved ${ws.reserved.toFixed(1)}`);
  } finally { g.close(); await vmm.stop(vm).catch(() => undefined); await rm(workDir, { recursive: true, force: true }); }
}
