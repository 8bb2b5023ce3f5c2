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
for (const tb of (process.env.TBS ?? '8').split(',').map(Number)) {
  const vmm = new QemuVmm({ runner, accel: 'tcg', tcgTbSizeMib: tb });
  const workDir = await shortWorkDir('dens2-z');
  const t0 = Date.now();
  const vm = await vmm.start({ key: 'mvm-density2-z', workDir, vcpus: 1, memMib: 256, kernelPath: image.vmlinux, initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=density mvm.ip=10.240.96.2/24`, drives: imageDrives(image), nets: [] });
  const g = new GuestAgentClient(unixSocketTransport(vm.guestSocket), { requestTimeoutMs: 60_000 });
  const m = async (label: string) => {
    const ws = await guestWorkingSetMib(g, 256);
    const s = await vmmSplit(vm.pid, 256);
    console.log(`[tb ${tb}] ${label}: RSS ${s.total.toFixed(1)} guestRam ${s.guestRam.toFixed(1)} ownAnon ${s.ownAnon.toFixed(1)} ws ${ws.used.toFixed(1)} reserved ${ws.reserved.toFixed(1)}`);
  };
  try {
    await g.waitReady(240_000);
    const ready = Date.now() - t0;
    let t1 = Date.now();
    await guestSh(g, guestHogCommand(100)); await guestSh(g, GUEST_FREE_COMMAND);
    console.log(`[tb ${tb}] ready ${ready} ms, hog+free ${Date.now() - t1} ms`);
    t1 = Date.now();
    await guestSh(g, 'for i in 1 2 3 4 5 6 7 8 9 10; do ls -R / >/dev/null 2>&1; done');
    console.log(`[tb ${tb}] 10x ls -R / ${Date.now() - t1} ms`);
    await sleep(12000);
    await m('idle');
    console.log(await guestSh(g, 'grep -E "Cached|Buffers|SReclaimable|SUnreclaim|AnonPages|KernelStack|PageTables|Percpu|VmallocUsed" /proc/meminfo; sort -k3 -n -r /proc/slabinfo 2>/dev/null | awk \'{printf "%s %d KiB\\n", $1, $3*$4/1024}\' | sort -k2 -n -r | head -8'));
    await guestSh(g, 'sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory; echo ok');
    await sleep(8000);
    await m('after drop_caches+compact');
    if (tb === 8) {
      const smaps = await readFile(`/proc/${vm.pid}/smaps`, 'utf8');
      let h = ''; for (const line of smaps.split('\n')) { if (/^[0-9a-f]+-/.test(line)) h = line; const r = /^Rss:\s+(\d+)/.exec(line); if (r && +r[1]! > 300 && / 0 +$|\[heap\]/.test(h + ' ')) console.log(r[1], h); }
    }
  } finally { g.close(); await vmm.stop(vm).catch(() => undefined); await rm(workDir, { recursive: true, force: true }); }
}
