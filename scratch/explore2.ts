import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { GuestAgentClient } from '../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../src/drivers/guest-channel/guest-transport.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { QemuVmm } from '../src/drivers/qemu/qemu-vmm.ts';
import { guestSh, guestHogCommand, GUEST_FREE_COMMAND, vmmSplit } from '../test/support/guest-memory.ts';
import { shortWorkDir } from '../test/support/qemu-guest.ts';
const runner = new NodeProcessRunner();
const image = await buildDevImage({ runner });
const extra = process.argv[2] ?? '';
const vmm = new QemuVmm({ runner, accel: 'tcg', tcgTbSizeMib: Number(process.env.TB ?? 64) });
const workDir = await shortWorkDir('dens2-x');
const cg = '/sys/fs/cgroup/memory/mvm-density2-x';
await mkdir(cg, { recursive: true });
await writeFile(`${cg}/cgroup.procs`, String(process.pid));
const vm = await vmm.start({ key: 'mvm-density2-x', workDir, vcpus: 1, memMib: 256, kernelPath: image.vmlinux, initrdPath: image.initrd,
  cmdline: `${image.cmdlineBase} mvm.hostname=density mvm.ip=10.240.96.2/24 ${extra}`, drives: imageDrives(image), nets: [] });
await writeFile('/sys/fs/cgroup/memory/cgroup.procs', String(process.pid));
const g = new GuestAgentClient(unixSocketTransport(vm.guestSocket), { requestTimeoutMs: 60_000 });
const show = async (label: string) => {
  const st = await readFile(`${cg}/memory.stat`, 'utf8');
  const f = (k: string) => (Number(new RegExp(`^${k} (\\d+)`, 'm').exec(st)?.[1]) / 1048576).toFixed(1);
  const s = await vmmSplit(vm.pid, 256);
  const usage = (Number(await readFile(`${cg}/memory.usage_in_bytes`, 'utf8')) / 1048576).toFixed(1);
  const vs = await readFile('/proc/vmstat', 'utf8');
  const v = (k: string) => new RegExp(`^${k} (\\d+)`, 'm').exec(vs)?.[1];
  console.log(`${label}: VmRSS ${s.total.toFixed(1)} guestRam ${s.guestRam.toFixed(1)} ownAnon ${s.ownAnon.toFixed(1)} | cg usage ${usage} rss ${f('rss')} rss_huge ${f('rss_huge')} cache ${f('cache')} | deferred_split ${v('thp_deferred_split_page')} split ${v('thp_split_page')} collapse ${v('thp_collapse_alloc')}`);
};
try {
  await g.waitReady(240_000);
  await show('booted');
  console.log(await guestSh(g, 'cat /sys/module/page_reporting/parameters/page_reporting_order; head -c 3000 /proc/slabinfo | sort -k3 -n -r 2>/dev/null | head -3; dmesg | grep -E "Memory:|Freeing"'));
  await guestSh(g, guestHogCommand(100)); await show('hogged'); await guestSh(g, GUEST_FREE_COMMAND);
  await sleep(15000);
  await show('freed+15s');
  await sleep(25000);
  await show('freed+40s');
  // memory pressure inside the cgroup: limit just above the charged rss
  const st = await readFile(`${cg}/memory.stat`, 'utf8');
  const rss = Number(/^rss (\d+)/m.exec(st)?.[1]);
  const s = await vmmSplit(vm.pid, 256);
  await writeFile(`${cg}/memory.limit_in_bytes`, String(Math.round((s.total - s.total + s.guestRam + s.ownAnon + 20) * 1048576))).catch((e) => console.log('limit', String(e)));
  await sleep(3000);
  await show('after limit (pressure)');
  console.log('rss before limit', rss / 1048576);
} finally { g.close(); await vmm.stop(vm).catch(() => undefined); await rm(workDir, { recursive: true, force: true }); await sleep(500); await rmdir(cg).catch((e) => console.log(String(e))); }
