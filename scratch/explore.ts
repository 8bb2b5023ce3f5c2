import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { GuestAgentClient } from '../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../src/drivers/guest-channel/guest-transport.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { QemuVmm } from '../src/drivers/qemu/qemu-vmm.ts';
import { guestSh, guestHogCommand, GUEST_FREE_COMMAND } from '../test/support/guest-memory.ts';
import { shortWorkDir } from '../test/support/qemu-guest.ts';
const runner = new NodeProcessRunner();
const image = await buildDevImage({ runner });
const extra = process.argv[2] ?? '';
const vmm = new QemuVmm({ runner, accel: 'tcg', tcgTbSizeMib: Number(process.env.TB ?? 64) });
const workDir = await shortWorkDir('dens2-x');
const vm = await vmm.start({ key: 'mvm-density2-x', workDir, vcpus: 1, memMib: 256, kernelPath: image.vmlinux, initrdPath: image.initrd,
  cmdline: `${image.cmdlineBase} mvm.hostname=density mvm.ip=10.240.96.2/24 ${extra}`, drives: imageDrives(image), nets: [] });
const g = new GuestAgentClient(unixSocketTransport(vm.guestSocket), { requestTimeoutMs: 60_000 });
try {
  await g.waitReady(240_000);
  console.log(await guestSh(g, 'cat /proc/cmdline; dmesg | grep -i -E "Memory:|reserve|crash|swiotlb|Freeing|memmap|e820|initrd|zone|DMA|cma" | head -60; cat /proc/meminfo | head -30; cat /proc/sys/vm/min_free_kbytes; cat /proc/zoneinfo | grep -E "Node|pages free|min|low|high|managed|present|spanned" | head -40; cat /proc/iomem | head -30; ps w; uname -r'));
  await guestSh(g, guestHogCommand(100)); await guestSh(g, GUEST_FREE_COMMAND);
  await sleep(15000);
  console.log(await guestSh(g, 'grep -E "MemTotal|MemFree|Cached|Slab|AnonPages|Buffers|Shmem|KernelStack|PageTables" /proc/meminfo'));
  const smaps = await readFile(`/proc/${vm.pid}/smaps`, 'utf8');
  const maps: Array<{ h: string; rss: number; priv: number; pss: number }> = [];
  let cur: { h: string; rss: number; priv: number; pss: number } | undefined;
  for (const line of smaps.split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) { cur = { h: line, rss: 0, priv: 0, pss: 0 }; maps.push(cur); continue; }
    const m = /^(\w+):\s+(\d+) kB/.exec(line); if (!m || !cur) continue;
    if (m[1] === 'Rss') cur.rss = +m[2]!; if (m[1] === 'Pss') cur.pss = +m[2]!;
    if (m[1] === 'Private_Clean' || m[1] === 'Private_Dirty') cur.priv += +m[2]!;
  }
  maps.sort((a, b) => b.rss - a.rss);
  for (const m of maps.slice(0, 25)) console.log(String(m.rss).padStart(7), String(m.priv).padStart(7), String(m.pss).padStart(7), m.h);
  console.log(await readFile(`/proc/${vm.pid}/smaps_rollup`, 'utf8'));
  console.log((await readFile(`/proc/${vm.pid}/status`, 'utf8')).split('\n').filter((l) => /Vm|Rss|Threads/.test(l)).join('\n'));
} finally { g.close(); await vmm.stop(vm).catch(() => undefined); await rm(workDir, { recursive: true, force: true }); }
